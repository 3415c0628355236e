#!/bin/sh
# Stands for the Check unit tests when configure found no Check: a SKIP.
echo "Check (libcheck) not found by configure: unit tests skipped (scripts/deps installs check)"
exit 77
