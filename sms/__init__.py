"""SMS: gateways (SMS Aero, Twilio, console), the SMS outbox and its sending, codes, notifications."""
