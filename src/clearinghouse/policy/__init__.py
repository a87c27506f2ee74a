"""The one access policy: who may see or act on what (see `rules`), the actors it decides for (`principals`) and
the SQL filters list queries use (`filters`). Services call it; routes, the CLI and exports never decide access
themselves."""

from clearinghouse.policy.principals import ANONYMOUS, Actor, Anonymous, Operator, actor_name

__all__ = ["ANONYMOUS", "Actor", "Anonymous", "Operator", "actor_name"]
