"""Result caching: the same task type and normalised input within a TTL gets the
stored result without a Job. `policy` and `key` decide (pure); `store` is Redis."""
