"""Accounts: deactivating a user ends every session they have (issue 3, session safety)."""
from playhouse.signals import pre_save

import models


@pre_save(sender=models.User, name="accounts/end-sessions-on-deactivate")
def end_sessions_on_deactivation(sender, instance, created):
    """Rotate the session token when a user is switched off, so old cookies stop working."""
    if created or instance.active:
        return
    stored = models.User.get_or_none(models.User.id == instance.id)
    if stored is not None and stored.active:
        instance.end_sessions()
