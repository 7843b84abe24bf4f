"""The server's bounds and names, shared by its modules."""

MAX_BODY = 1_000_000  # bytes; larger bodies get 413
MAX_BATCH = 64
TOKEN_COOKIE = "neuroplast_token"
# "Watch it learn": the only specs the page may train, each with its bounds. The client names one of
# these; it never sends a path or spec text.
PLAYGROUND = {"digits-cnn": {"max_epochs": 30}, "digits-mlp": {"max_epochs": 60}}
GENERATE_MAX_TOKENS = 1000
PROMPT_MAX = 2000  # characters of a /api/generate prompt
