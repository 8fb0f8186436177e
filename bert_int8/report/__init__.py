"""What a reviewer sees without a browser: the figures rendered from committed metrics."""
