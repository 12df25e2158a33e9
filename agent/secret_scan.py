"""What must never be committed: files named like secrets, and lines that hold one.

The line scan is detect-secrets' (its token detectors, private keys and secret
keywords). Its entropy and public-IP detectors are left out: hashes, test data
and addresses in code would all be refused. Three patterns add formats it has
no detector for (OpenAI project keys outside a keyword, Google API keys, bare
npm tokens). A keyword match (`password = "..."`) counts only when the value
looks real: 12 characters or more, not a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.errors import GitError

__all__ = ["find_secrets", "is_sensitive_name", "refuse_secrets"]

_SENSITIVE = re.compile(
    r"^(\.env(\..*)?|\.envrc|.*\.(pem|key|p12|pfx|jks|keystore|kdbx|tfstate(\.backup)?)"
    r"|id_(rsa|dsa|ecdsa|ed25519)(\..*)?|\.netrc|_netrc|\.pypirc|\.npmrc|\.yarnrc(\.yml)?"
    r"|\.git-credentials|\.pgpass|\.htpasswd|\.s3cfg|\.boto|\.dockercfg|\.terraformrc"
    r"|credentials(\.json)?|secrets?\.(ya?ml|json|toml))$",
    re.IGNORECASE,
)
_SAFE_TEMPLATES = re.compile(r"^\.env\.(example|sample|template|dist)$", re.IGNORECASE)
_SCANNER_PLUGINS = tuple(
    {"name": name}
    for name in (
        "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
        "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector",
        "GitLabTokenDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector",
        "KeywordDetector", "MailchimpDetector", "NpmDetector", "OpenAIDetector",
        "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector",
        "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
        "TwilioKeyDetector",
    )
)  # fmt: skip
_EXTRA: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("an npm access token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
)
_KEYWORD = "Secret Keyword"
_PLACEHOLDER = re.compile(r"(?i)example|changeme|placeholder|dummy|x{4,}|\*{4,}|<|\$\{|\{\{")


def _real_keyword_secret(value: str | None) -> bool:
    """A keyword match (`password = "..."`) counts when the value looks like a real one."""
    value = (value or "").strip("'\"")
    return len(value) >= 12 and not _PLACEHOLDER.search(value) and len(set(value)) > 3


def _scan_line(line: str) -> str | None:
    from detect_secrets.core.scan import scan_line

    for kind, pattern in _EXTRA:
        if pattern.search(line):
            return kind
    for secret in scan_line(line):
        if secret.type != _KEYWORD or _real_keyword_secret(secret.secret_value):
            return f"a secret ({secret.type})"
    return None


def find_secrets(text: str) -> list[tuple[int, str]]:
    """(1-based line, kind) for each line of `text` that looks like it holds a secret."""
    from detect_secrets.settings import transient_settings

    found: list[tuple[int, str]] = []
    with transient_settings({"plugins_used": [dict(p) for p in _SCANNER_PLUGINS]}):
        for number, line in enumerate(text.splitlines(), start=1):
            kind = _scan_line(line)
            if kind is not None:
                found.append((number, kind))
    return found


def is_sensitive_name(name: str) -> bool:
    """A file name (no folder) that holds secrets or key material: `.env`, `.npmrc`, `id_rsa`..."""
    return bool(_SENSITIVE.match(name)) and not _SAFE_TEMPLATES.match(name)


def refuse_secrets(files: Mapping[str, str]) -> None:
    """GitError naming file and line when any of `files` holds what looks like a secret."""
    for name, text in sorted(files.items()):
        hits = find_secrets(text)
        if hits:
            raise GitError(
                f"refused to commit: {name}:{hits[0][0]} looks like {hits[0][1]}; "
                "remove it (read secrets from the environment) and retry"
            )
