"""What an archive error means and what fixes it, in one table.

The errors themselves stay technical (they go to the logs and name the
request that failed); the console shows the hint beside them, so an operator
reads "check the credentials" instead of decoding "HTTP 401". The first row
whose pattern matches the error wins: the store's refusals come first, since
an S3 ``AccessDenied`` also carries "(HTTP 403)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    what: str  # what happened, in a few words (the listing's error column)
    fix: str  # what to do about it; ``{provider}`` stands for the provider's name


HINTS: list[tuple[re.Pattern[str], Hint]] = [
    (
        re.compile(r"\bAccessDenied\b|\bAllAccessDisabled\b|\bInvalidAccessKeyId\b"),
        Hint(
            "the store refused us",
            "Check the bucket policy and the IAM permissions of the worker's S3 credentials "
            "(deploy/aws/iam-policy.json lists what they need), then retry.",
        ),
    ),
    (
        re.compile(r"\bSignatureDoesNotMatch\b"),
        Hint(
            "the store refused our S3 key",
            "Check the S3 secret access key the worker uses, then retry.",
        ),
    ),
    (
        re.compile(r"\bNoSuchBucket\b"),
        Hint("no such bucket", "Check S3_BUCKET (and S3_REGION), then retry."),
    ),
    (
        re.compile(r": HTTP 40[13]\b"),
        Hint(
            "the provider refused our credentials",
            "Check the {provider} credentials in the worker's settings (account SID and auth "
            "token; Telnyx: the API key), then retry.",
        ),
    ),
    (
        re.compile(r": HTTP 404\b"),
        Hint(
            "the provider no longer has it",
            "The provider answered 404 on every try: the recording was deleted there (by "
            "hand, by a retention rule or by another system). Nothing is left to copy from.",
        ),
    ),
    (
        re.compile(r": HTTP 429\b"),
        Hint(
            "the provider throttled us",
            "Too many requests to the provider: fewer workers, or retry later.",
        ),
    ),
    (
        re.compile(r": HTTP 5\d\d\b|timed out|failed: \w*(Connection|Timeout)"),
        Hint(
            "the provider did not answer",
            "The provider was down or unreachable on every try; check its status page and retry.",
        ),
    ),
    (
        re.compile(r"is not configured \(no credentials\)"),
        Hint(
            "provider not set up",
            "Set the {provider} credentials in the worker's settings, then retry.",
        ),
    ),
    (
        re.compile(r"is not the configured account"),
        Hint(
            "another account's recording",
            "This recording belongs to an account this deployment does not serve.",
        ),
    ),
    (
        re.compile(r"API origin"),
        Hint(
            "media URL on another host",
            "The recording's media URL is not on the provider's API host; check the "
            "provider's API base URL setting.",
        ),
    ),
    (
        re.compile(r"does not match|holds \d+ bytes, expected|not in the store after the upload"),
        Hint(
            "the stored copy did not check out",
            "The store kept something other than what was sent; retry, and check the store "
            "if it happens again.",
        ),
    ),
]


def hint_for(error: str | None, provider: str = "provider's") -> Hint | None:
    """The hint for an archive error (``provider``: its name, to say whose settings),
    or None when the table has none."""
    if not error:
        return None
    for pattern, hint in HINTS:
        if pattern.search(error):
            return Hint(hint.what, hint.fix.replace("{provider}", provider))
    return None
