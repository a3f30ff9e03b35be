"""The reads of referrals and tasks, and createReferral, compiled into one PostgreSQL statement each (issue 16),
which check the token, apply every rule of the resolver path, write the audit rows and build the response's JSON.

- common.py: the statement's parameters, the `caller` CTE reading the token's state, selections, arguments;
- provider.py: `inbox`, `task(id:)` and `overdueTasks` (compile_inbox), with provider_victim.py, what a provider
  may see of a task's victim under consent;
- hub.py: the Hub's `referrals` and `referral(id:)` (compile_hub);
- create.py: the Hub's `createReferral`, the one compiled write (compile_create_referral): the same checks in
  Python, then the token, the idempotency key, every row and the audit row in one statement.

gateway/graphql/compiled/ runs them; anything a compiler does not handle takes the resolver path unchanged.
"""

from gateway.referrals.compiled.create import compile_create_referral
from gateway.referrals.compiled.hub import compile_hub
from gateway.referrals.compiled.provider import compile_inbox

__all__ = ["compile_create_referral", "compile_hub", "compile_inbox"]
