"""Column names and defaults shared by every stage, so signatures can default to them."""

# Canonical event columns: what every input format is mapped to when read.
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
VALUE = "value"
EVENT_TIME = "event_time"
EVENT_COLUMNS = (USER_ID, ITEM_ID, EVENT_TYPE, VALUE, EVENT_TIME)
# The `events` table's partition column: the run date whose batch brought the row in.
INGEST_DATE = "ingest_date"

# Dense integer ids ALS works on, kept stable across runs in the id-mapping tables.
USER_IDX = "user_idx"
ITEM_IDX = "item_idx"
# Per user-item strength: ALS's "rating" column (a confidence in implicit mode).
STRENGTH = "strength"
# Latest event time of a user-item pair: what the time-based evaluation split orders by.
LAST_EVENT_TIME = "last_event_time"
FEATURES = "features"

# Output columns.
RANK = "rank"
SCORE = "score"
SOURCE = "source"
MODEL_VERSION = "model_version"
RUN_DATE = "run_date"
RUN_ID = "run_id"
# served_versions: a published table's name and the version of it readers serve
TABLE_NAME = "table_name"
TABLE_VERSION = "version"
SIMILAR_ITEM_ID = "similar_item_id"  # similar_items: the neighbour of item_id
ELIGIBLE = "eligible"  # item_factors: may the item be recommended
FOLDIN_SETTINGS = "settings"  # item_factors: JSON of what a fold-in at serving time needs besides the factors
EXCLUDED = "excluded"  # user_histories: the run's lists never hold the item for the user

# Where a recommendation came from.
SOURCE_ALS = "als"
SOURCE_POPULAR = "popular"
SOURCE_FOLDIN = "foldin"  # a user new since training, factors folded in against the item factors
SOURCE_CONTENT = "content"  # a new item (no interactions), factors mapped from its catalogue content
SOURCES = (SOURCE_ALS, SOURCE_POPULAR, SOURCE_FOLDIN, SOURCE_CONTENT)
# Served, never published: folded in at request time from the batch history and the user's recent items.
SOURCE_REALTIME = "realtime"

# A registered model's status: trained -> approved | rejected (the quality gate) -> published.
TRAINED, APPROVED, REJECTED, PUBLISHED = "trained", "approved", "rejected", "published"
USABLE_STATUSES = (APPROVED, PUBLISHED)  # what recommend may serve

DEFAULT_TOP_N = 10
DEFAULT_SEED = 42
