"""The data: reading datasets in their formats (formats, splits), fetching THUCNews (fetch), the
tokenizer, and the length buckets titles are padded to."""
