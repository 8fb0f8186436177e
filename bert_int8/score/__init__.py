"""`bert-int8 score`: classify a corpus (CSV, TSV, JSON Lines or Parquet; a file or a folder) into
a folder of Parquet or JSONL parts, streaming, resumable, on this machine or on a Ray cluster.

inputs reads and checks the records; parts cuts them into parts and writes those; scorer holds
the model; local and ray_engine run the job; job owns the output folder and its manifest."""
