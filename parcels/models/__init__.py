from parcels.models.codes import CodeItem
from parcels.models.history import ChangeRecord
from parcels.models.regions import Region
from parcels.models.register import (
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    RegisterBook,
    SourceAttachment,
    TransferContract,
)
from parcels.models.spatial import BoundaryLine, BoundaryPoint, Parcel, ParcelLineage

__all__ = [
    "BoundaryLine",
    "BoundaryPoint",
    "Certificate",
    "CertificateCancellation",
    "CertificateReissue",
    "CertificateReplacement",
    "ChangeRecord",
    "CodeItem",
    "Collective",
    "Contract",
    "ContractParcel",
    "Contractor",
    "FamilyMember",
    "Parcel",
    "ParcelLineage",
    "Region",
    "RegisterBook",
    "SourceAttachment",
    "TransferContract",
]
