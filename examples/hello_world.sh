#!/bin/sh
# The seed's hello-world flow as a script flow: parameters arrive as RIGEL_PARAM_<NAME>.
# /// rigel
# name = "hello-world"
# description = "Prints a greeting"
# [parameters.name]
# type = "string"
# default = "world"
# description = "Who to greet"
# ///
echo "Hello ${RIGEL_PARAM_NAME:-world}!"
