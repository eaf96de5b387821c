"""Quality inspection (质检) of a county's register before it goes to the Ministry.

* ``catalogue``: the rules (id, severity, default tolerance, one line in Chinese and English),
  the tolerances and the ``Finding`` every rule reports;
* ``dataset``: parcels streamed out of PostGIS and projected into the county's CRS (metres);
* ``geometry``, ``topology``, ``attributes``, ``crossref``: the rules, set-wise;
* ``engine``: runs every rule over a county, town or village, in a fixed order;
* ``report``: JSON, GeoJSON of the problem geometries, xlsx;
* ``guard``: the edit-time overlap check that the parcel services call before a save.

This package module imports nothing on purpose: ``parcels.services`` imports ``guard``, and
``engine`` imports ``parcels.services``.
"""
