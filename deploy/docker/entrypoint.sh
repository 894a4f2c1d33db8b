#!/bin/sh
# Build the demo indexes on /data when they are missing (a no-op otherwise), then run the command.
set -e
if [ -f "${BANKING77_CSV:-/data/banking77/train.csv}" ]; then
    ragway index ensure-demo --config "$RAGWAY_CONFIG" --banking77 "${BANKING77_CSV:-/data/banking77/train.csv}"
fi
exec "$@"
