"""What each voice provider sends, and how to check it.

Twilio and SignalWire share the Compatibility API's callback format, so the
parsing lives in ``callbacks`` and each provider module adds its own signature
check and API origin rules.
"""
