"""Privacy compliance (GDPR / CCPA): personal data cleaned on its way between the systems
(policy.py, apply.py), and data-subject export and erase in the x_bip_panda tables
(subject.py, subject_service.py, tables.py)."""

from .apply import PrivacyReport, apply, to_bigpanda, to_servicenow
from .policy import DirectionPolicy, PersonalField, PrivacyPolicy
from .pseudonym import Pseudonymiser

__all__ = ["DirectionPolicy", "PersonalField", "PrivacyPolicy", "PrivacyReport", "Pseudonymiser", "apply",
           "to_bigpanda", "to_servicenow"]
