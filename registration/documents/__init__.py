"""Documents of a registration case, as PDF: the contracting contract (with QR code and
parcel sketches), the certificate (承包经营权证), the register book page (登记簿) and the
parcel sketch map (地块示意图, 300 dpi). Chinese text uses an embedded CJK font."""
