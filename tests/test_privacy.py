from __future__ import annotations

import logging

from bonusbridge.privacy import PersonalDataFilter, mask_card_number, mask_name, mask_phone


def test_masks_keep_just_enough_to_help_support():
    assert mask_phone("+79161234567") == "+7***67"
    assert mask_name("Демидова") == "Д***"
    assert mask_card_number("200000000001") == "••••••••0001"


def test_log_filter_scrubs_phone_numbers(caplog):
    logger = logging.getLogger("bonusbridge.test.privacy")
    logger.addFilter(PersonalDataFilter())
    with caplog.at_level(logging.INFO, logger="bonusbridge.test.privacy"):
        logger.info("code sent to %s", "+7 (916) 123-45-67")
    assert "123-45" not in caplog.text
    assert "+7***67" in caplog.text
