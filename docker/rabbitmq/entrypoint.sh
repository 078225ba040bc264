#!/bin/sh
# The official image's RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS for Debian's rabbitmq-server.
set -eu
: "${RABBITMQ_DEFAULT_USER:?set RABBITMQ_DEFAULT_USER}"
: "${RABBITMQ_DEFAULT_PASS:?set RABBITMQ_DEFAULT_PASS}"
umask 077
{
  echo "default_user = ${RABBITMQ_DEFAULT_USER}"
  echo "default_pass = ${RABBITMQ_DEFAULT_PASS}"
  echo "loopback_users = none"
} > /etc/rabbitmq/conf.d/10-defaults.conf
exec rabbitmq-server
