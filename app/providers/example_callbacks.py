"""Callbacks as a Twilio-style provider sends them, for ``flask send-test-callback``.

Only a provider whose signing key we hold too can be imitated (Twilio,
SignalWire; see ``declaration.SharedKeyProvider``).
"""

from __future__ import annotations

import datetime as dt

from app.providers.base import RecordingStatus
from app.providers.twilio_api import API_VERSION


def example_callback(
    api_base_url: str, account_sid: str, call_sid: str, recording_sid: str, status: str
) -> dict[str, str]:
    """A recording-status callback as a Twilio-style provider sends it.

    The same recording gets the same parameters all day (it "started" at midnight
    UTC), so sending it again is a repeat, as a provider's retry is, and stored once.
    """
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    params = {
        "AccountSid": account_sid,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingStatus": status,
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
        "RecordingStartTime": midnight.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }
    if status == RecordingStatus.COMPLETED:
        params["RecordingDuration"] = "42"
        params["RecordingUrl"] = (
            f"{api_base_url}/{API_VERSION}/Accounts/{account_sid}/Recordings/{recording_sid}"
        )
    return params
