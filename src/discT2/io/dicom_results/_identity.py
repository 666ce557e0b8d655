"""Who the results are about: the patient and study identification they carry, and their UIDs.

By default every output is de-identified following the Basic Application Level Confidentiality
Profile of DICOM PS3.15 (Annex E): patient name and ID replaced by a pseudonym, birth date, sex,
study date and time, accession number, study ID and referring physician left empty, and every UID
of the source (study, series, instances, frame of reference) replaced by a new one. The new UIDs
are a one-way hash of the old ones, so that the results of one exam written at different times
(the maps by ``fit``, the ROIs by ``rois``) stay in one study and one frame of reference and can
reference each other. ``identity='source'`` copies the identification from the source instead,
so that the results file beside the exam in a PACS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from discT2.errors import InputError

__all__ = [
    "DEFAULT_PSEUDONYM",
    "IDENTITIES",
    "check_identity",
    "content_uid",
    "identification",
    "mark_deidentified",
    "source_uid",
]

#: ``'deidentified'`` (default) or ``'source'`` (copy the source's identification and UIDs).
IDENTITIES: tuple[str, ...] = ("deidentified", "source")

#: Patient name and ID of de-identified results when no pseudonym is given.
DEFAULT_PSEUDONYM = "ANONYMOUS"

#: Patient and General Study module attributes copied only with ``identity='source'``.
SOURCE_IDENTIFICATION: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
)

#: Type 2 attributes that a de-identified object keeps, empty (PS3.15 action Z).
_EMPTIED: tuple[str, ...] = (
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)

_BASIC_PROFILE = Code("113100", "DCM", "Basic Application Confidentiality Profile")
_DEID_METHOD = "discT2: PS3.15 Basic Application Confidentiality Profile"
_UID_SALT = "discT2 de-identified UID"


def check_identity(identity: str) -> str:
    """``identity`` if it is one of :data:`IDENTITIES`, else an :class:`InputError`."""
    if identity not in IDENTITIES:
        raise InputError(f"identity must be one of {', '.join(IDENTITIES)}; got {identity!r}")
    return identity


def source_uid(uid: str, identity: str) -> str:
    """A UID of the source as the results carry it: itself, or its de-identified replacement."""
    if identity == "source":
        return str(uid)
    return str(generate_uid(entropy_srcs=[_UID_SALT, str(uid)]))


def content_uid(*parts: object) -> str:
    """A UID for a new object, the same for the same ``parts`` (reruns replace, not duplicate).

    Parameters
    ----------
    *parts : object
        What identifies the object; ``bytes`` (pixel data) enter through their SHA-256.
    """
    texts = [hashlib.sha256(p).hexdigest() if isinstance(p, bytes) else str(p) for p in parts]
    return str(generate_uid(entropy_srcs=["discT2 result", *texts]))


def identification(header: Dataset, identity: str, pseudonym: str | None) -> Dataset:
    """The patient and study attributes the results carry.

    Parameters
    ----------
    header : Dataset
        A header of the source series.
    identity : {'deidentified', 'source'}
        De-identify (default) or copy the source's identification.
    pseudonym : str, optional
        Patient name and ID of de-identified results (default :data:`DEFAULT_PSEUDONYM`).
    """
    out = Dataset()
    if identity == "source":
        for keyword in SOURCE_IDENTIFICATION:
            if keyword in header:
                setattr(out, keyword, header[keyword].value)
        for keyword in ("PatientName", "PatientID", *_EMPTIED):
            if keyword not in out:
                setattr(out, keyword, "")
        return out
    name = pseudonym or DEFAULT_PSEUDONYM
    out.PatientName = name if "^" in name else f"{name}^"  # a family name only
    out.PatientID = name
    for keyword in _EMPTIED:
        setattr(out, keyword, "")
    return out


def mark_deidentified(datasets: Iterable[Dataset], identity: str) -> None:
    """Record the de-identification (Patient Identity Removed, method and its code) in place."""
    if identity == "source":
        return
    for ds in datasets:
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = _DEID_METHOD
        item = Dataset()
        item.CodeValue = _BASIC_PROFILE.value
        item.CodingSchemeDesignator = _BASIC_PROFILE.scheme_designator
        item.CodeMeaning = _BASIC_PROFILE.meaning
        ds.DeidentificationMethodCodeSequence = [item]
