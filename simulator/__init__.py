"""A synthetic B2B SaaS world: seven contract tables plus the ground truth that made them.

Every account carries a latent health state that evolves month by month: an account
baseline, an AR(1) deviation with shocks, occasional downturn episodes, and four
idiosyncratic components (engagement, support friction, satisfaction, financial stress).
The observable tables are noisy views of that state:

- usage events (active users out of seats, feature breadth, active days) follow engagement;
- support tickets (volume, priority, slow or missing resolution) follow support friction;
- survey answers (NPS, CSAT, effort) follow satisfaction;
- late or unpaid invoices follow financial stress;
- CSM check-ins are a noisy red/yellow/green reading of overall health.

Churn, renewal, upsell and contraction are drawn from hazards of the state the account
lived in the month before (so a month of observed behaviour says much about the next
decision). The planted churn drivers, each contributing a non-negative term to the churn
log-odds, are :data:`CHURN_DRIVERS`. Annual plans can churn only at renewal; monthly plans
at any monthly anniversary (the day of the month of their first paid day).

Subscriptions follow the input contract: a row's ``end_date`` is the end of the term as
agreed when the term started. Annual plans get one row per 12-month term (plus add-on rows
for mid-term expansions, ending with the term); monthly plans one row per billing month,
from one anniversary to the next. A cancellation is the absence of a next row, and a seat
change on a monthly plan takes effect at an anniversary, in the next row.

The ground truth holds, for every active account at every month start, the probability
of 90-day contract churn and of upsell, integrated over the future evolution of the state
by Monte Carlo with its own random stream (never the realised draws).

Everything is vectorised over accounts (one Python loop over months) and deterministic:
the same :class:`GeneratorConfig` gives byte-identical files.

Modules, one idea each: :mod:`.config` (settings, the world, its summary),
:mod:`.dynamics` (the hidden state), :mod:`.accounts` (accounts and contracts),
:mod:`.world` (the monthly simulation), :mod:`.tables` (the observable tables),
:mod:`.truth` (the ground truth), :mod:`.calendar` (the month grid) and
:mod:`.writing`. Names with a leading underscore are internal to the package.
"""

from simulator.config import CHURN_DRIVERS, GENERATED_KEY_EVENTS, GeneratorConfig, World, WorldSummary
from simulator.world import generate_world
from simulator.writing import write_world

__all__ = [
    "CHURN_DRIVERS",
    "GENERATED_KEY_EVENTS",
    "GeneratorConfig",
    "World",
    "WorldSummary",
    "generate_world",
    "write_world",
]
