"""SMS gateways (SMS Aero, Twilio, console) and one-time phone verification codes."""
