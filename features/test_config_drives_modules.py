"""Steps of config_drives_modules.feature: bpsn/steps/config_modules.py."""

from pytest_bdd import scenarios

scenarios("config_drives_modules.feature")
