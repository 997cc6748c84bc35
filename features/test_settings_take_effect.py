"""Steps of settings_take_effect.feature: bpsn/steps/config_modules.py."""

from pytest_bdd import scenarios

scenarios("settings_take_effect.feature")
