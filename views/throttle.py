"""Password entries (login, /password, reveal, personal-data export): growing delays, never a hard lock.

Failures are counted per client address and per account name in ``LoginThrottle`` rows (the database,
so every server process agrees). After ``LOGIN_MAX_FAILURES`` failures from one address, that address
waits ``LOGIN_DELAY_SECONDS`` × 2ⁿ (capped at ``LOGIN_LOCK_MINUTES``) before it may try again. An account
attacked from many addresses waits too, but later (``LOGIN_ACCOUNT_MAX_FAILURES``) and at most
``LOGIN_ACCOUNT_MAX_DELAY_SECONDS``; a browser that logged in to that account before (a signed
known-device cookie) skips the account's delay at login, so a stranger cannot keep its owner out.
Known and unknown names take the same path and the same time: an unknown name is verified against a
dummy argon2 hash.
"""
import datetime

from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from flask import current_app
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from peewee import Case
from peewee import IntegrityError

import models

DEVICE_COOKIE = "known_device"
DEVICE_DAYS = 180
_DUMMY = {}


def _config(name, default):
    return current_app.config.get(name, default)


def address():
    """Return the client address of the request."""
    return (request.remote_addr or "")[:64]


def account_key(username):
    return "user:" + (username or "").strip().lower()[:150]


def address_key(addr):
    return "ip:" + (addr or "")[:150]


def delay(failures, free, base, cap):
    """Return the seconds to wait after ``failures`` failures: none before ``free``, then base × 2ⁿ up to ``cap``."""
    if failures < free:
        return 0
    return min(base * 2 ** min(failures - free, 30), cap)


def _policies():
    """Return {key kind: (free failures, base seconds, cap seconds)} from the configuration."""
    base = _config("LOGIN_DELAY_SECONDS", 2)
    return {
        "ip": (_config("LOGIN_MAX_FAILURES", 5), base, _config("LOGIN_LOCK_MINUTES", 15) * 60),
        "user": (_config("LOGIN_ACCOUNT_MAX_FAILURES", 10), base, _config("LOGIN_ACCOUNT_MAX_DELAY_SECONDS", 60)),
    }


def _keys(username, addr, trusted):
    keys = [address_key(addr)]
    if not trusted:
        keys.append(account_key(username))
    return keys


def wait_seconds(username, addr=None, trusted=False):
    """Return how many seconds the next password entry for ``username`` from ``addr`` must still wait."""
    addr = address() if addr is None else addr
    now = models.utcnow()
    rows = models.LoginThrottle.select(models.LoginThrottle.blocked_until).where(
        models.LoginThrottle.key.in_(_keys(username, addr, trusted)), models.LoginThrottle.blocked_until > now)
    waits = [(until - now).total_seconds() for (until,) in rows.tuples()]
    return int(max(waits) + 0.999) if waits else 0


def _bump(key, free, base, cap, now):
    """Count one failure on ``key`` (restarting the count after a quiet window) and set its delay."""
    table = models.LoginThrottle
    window = now - datetime.timedelta(minutes=_config("LOGIN_FAILURE_WINDOW_MINUTES", 60))
    counted = Case(None, [(table.last_failure_at < window, 1)], table.failures + 1)
    updated = table.update(failures=counted, last_failure_at=now).where(table.key == key).execute()
    if not updated:
        try:
            with models.db.atomic():
                table.insert(key=key, failures=1, last_failure_at=now, created_at=now, updated_at=now).execute()
        except IntegrityError:  # another process inserted it first
            table.update(failures=table.failures + 1, last_failure_at=now).where(table.key == key).execute()
    failures = table.select(table.failures).where(table.key == key).scalar() or 0
    seconds = delay(failures, free, base, cap)
    table.update(blocked_until=now + datetime.timedelta(seconds=seconds) if seconds else None) \
        .where(table.key == key).execute()


def record_failure(username, addr=None):
    """Count a wrong password for ``username`` from ``addr`` (both keys always count)."""
    addr = address() if addr is None else addr
    now = models.utcnow()
    policies = _policies()
    with models.db.atomic():
        _bump(address_key(addr), *policies["ip"], now)
        _bump(account_key(username), *policies["user"], now)
        # Forget quiet keys (sprayed unknown names must not pile up).
        stale = now - datetime.timedelta(days=1)
        models.LoginThrottle.delete().where(models.LoginThrottle.last_failure_at < stale).execute()


def forget_account(username):
    """Forget the account's failures (a right password, or an admin's new one); addresses keep their count."""
    models.LoginThrottle.delete().where(models.LoginThrottle.key == account_key(username)).execute()


record_success = forget_account


def _dummy_hash():
    hasher = models.PASSWORD_HASHER
    if _DUMMY.get("hasher") is not hasher:
        _DUMMY.update(hasher=hasher, hash=hasher.hash("dummy-password-for-unknown-users"))
    return _DUMMY["hash"]


def verify(user, raw):
    """Check ``raw`` against ``user``'s hash, or a dummy hash when there is no such user (same time)."""
    if user is None or not user.password_hash:
        try:
            models.PASSWORD_HASHER.verify(_dummy_hash(), raw or "")
        except (VerificationError, InvalidHashError):
            pass
        return False
    return user.check_password(raw or "")


def record(username, right):
    """Count one password entry for ``username`` from this request's address."""
    if right:
        record_success(username)
    else:
        record_failure(username)


def check(user, username, raw, trusted=False):
    """Return (password right, seconds to wait): no verification at all while the delay runs."""
    wait = wait_seconds(username, trusted=trusted)
    if wait:
        return False, wait
    right = verify(user, raw)
    record(username, right)
    return right, 0


def wait_message(seconds):
    """Return the Chinese message for a password entry that must wait."""
    return f"密码错误次数过多,请 {seconds} 秒后再试。"


# ---------------------------------------------------------------- known devices
def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def trusted_device(user):
    """Return True when this browser logged in to ``user``'s account before (signed cookie)."""
    if user is None:
        return False
    value = request.cookies.get(DEVICE_COOKIE, "")
    try:
        return _serializer().loads(value, max_age=DEVICE_DAYS * 86400) == user.id
    except BadSignature:
        return False


def remember_device(response, user):
    """Mark this browser as one that logged in to ``user``'s account."""
    response.set_cookie(DEVICE_COOKIE, _serializer().dumps(user.id), max_age=DEVICE_DAYS * 86400, httponly=True,
                        samesite="Lax", secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response
