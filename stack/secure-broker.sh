#!/usr/bin/env bash
# A single-node KRaft Kafka broker with every security mode the relay supports, for the tests of
# Kafka security (test/fault/kafka-security.test.ts), from the same Maven Central jars as stack/up.sh.
#
#   stack/secure-broker.sh up     start (or reuse); stdout: KEY=VALUE lines (listeners, cert dir, users)
#   stack/secure-broker.sh down   stop it (SIGTERM, then SIGKILL after 30 s)
#   stack/secure-broker.sh tool CLASS ARGS...
#                                 one of Kafka's own tools against the plaintext admin listener
#   stack/secure-broker.sh dump TOPIC...
#                                 Kafka's DumpLogSegments on the topics' partition-0 logs: each record
#                                 batch with its codec, each record with its payload (decoded by Kafka)
#
# Listeners on 127.0.0.1 (BASE = SECURE_KAFKA_PORT, default 9392):
#   BASE    SASL_SSL        PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured JWTs)
#   BASE+1  SSL             mutual TLS: ssl.client.auth=required
#   BASE+2  PLAINTEXT       admin and inter-broker listener (principal ANONYMOUS, a super user)
#   BASE+3  SASL_PLAINTEXT  the same SASL mechanisms without TLS; OAUTHBEARER sessions here must
#                           re-authenticate every 20 s (connections.max.reauth.ms), with a fresh token
#   BASE+4  SASL_SSL        "misnamed": bound to 127.0.0.1 but advertised as localhost, with a
#                           certificate for IP 127.0.0.1 only: a client that bootstraps here by IP
#                           must refuse the brokers the metadata names (hostname verification)
#   BASE+7  CONTROLLER
# TLS material (openssl, PEM): a test CA, a broker certificate for localhost/127.0.0.1 (and one for
# 127.0.0.1 only), a client certificate for mTLS (CN=relay-mtls), and a second CA with a client
# certificate the broker does not trust. SCRAM users are created with Kafka's StorageTool (format --add-scram), PLAIN users in the
# listener's JAAS line. The StandardAuthorizer allows everything to everyone (User:*) except, for
# user noidem, IdempotentWrite on the cluster and Write on every topic (added with AclCommand), so a
# relay logging in as noidem cannot initialise its idempotent producer.
# State: STACK_DIR/kafka-secure-BASE/ (wiped when this script changes). Heap: KAFKA_HEAP (384m).
#
# One node of a secure cluster (stack/cluster.sh with KAFKA_CLUSTER_SECURE=1 sets these):
#   SECURE_NODE_ID          node.id (default 1)
#   SECURE_VOTERS           controller.quorum.voters (default 1@127.0.0.1:BASE+7)
#   SECURE_REPLICATION      replication factor of new and internal topics (default 1); above 1,
#                           min.insync.replicas becomes 2
#   SECURE_CERTS            the certificate directory, shared by every node (default the state dir's certs/)
#   SECURE_CLUSTER_ID_FILE  the cluster id every node formats with (default: a new id per format)
#   SECURE_STAMP            extra text whose change wipes the data (the cluster passes its script's hash)
#   SECURE_WAIT             1 (default): wait until the node answers; 0: return once it is launched
#   SECURE_ACLS             1 (default): add the ACLs once the node answers (ACLs are cluster-wide:
#                           one node of a cluster adds them)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${SECURE_KAFKA_PORT:-9392}
export KAFKA_HEAP=${KAFKA_HEAP:-384m}
# lib.sh derives the instance directory from KAFKA_PORT; this broker's own is set below.
KAFKA_PORT=$BASE
# shellcheck source=lib.sh
source "$here/lib.sh"

P_SASL_SSL=$BASE
P_SSL=$((BASE + 1))
P_PLAIN=$((BASE + 2))
P_SASL_PLAIN=$((BASE + 3))
P_MISNAMED=$((BASE + 4))
P_CTRL=$((BASE + 7))
DIR="$STACK_DIR/kafka-secure-$BASE"
CERTS=${SECURE_CERTS:-$DIR/certs}
NODE_ID=${SECURE_NODE_ID:-1}
VOTERS=${SECURE_VOTERS:-1@127.0.0.1:$P_CTRL}
REPLICATION=${SECURE_REPLICATION:-1}
CLUSTER_ID_FILE=${SECURE_CLUSTER_ID_FILE:-}
WAIT=${SECURE_WAIT:-1}
ACLS=${SECURE_ACLS:-1}
DATA="$DIR/data"
PROPS="$DIR/server.properties"
LOG="$DIR/kafka.log"
PID_FILE="$DIR/kafka.pid"

# Test credentials (this broker is a throw-away test fixture on 127.0.0.1).
PLAIN_USER=plainuser PLAIN_PASSWORD=plain-secret
SCRAM256_USER=scram256 SCRAM256_PASSWORD=scram256-secret
SCRAM512_USER=scram512 SCRAM512_PASSWORD=scram512-secret
NOIDEM_USER=noidem NOIDEM_PASSWORD=noidem-secret

print_env() {
  cat <<EOF
SECURE_SASL_SSL=127.0.0.1:$P_SASL_SSL
SECURE_SSL=127.0.0.1:$P_SSL
SECURE_PLAINTEXT=127.0.0.1:$P_PLAIN
SECURE_SASL_PLAINTEXT=127.0.0.1:$P_SASL_PLAIN
SECURE_MISNAMED=127.0.0.1:$P_MISNAMED
SECURE_CERTS=$CERTS
SECURE_PLAIN_USER=$PLAIN_USER
SECURE_PLAIN_PASSWORD=$PLAIN_PASSWORD
SECURE_SCRAM256_USER=$SCRAM256_USER
SECURE_SCRAM256_PASSWORD=$SCRAM256_PASSWORD
SECURE_SCRAM512_USER=$SCRAM512_USER
SECURE_SCRAM512_PASSWORD=$SCRAM512_PASSWORD
SECURE_NOIDEM_USER=$NOIDEM_USER
SECURE_NOIDEM_PASSWORD=$NOIDEM_PASSWORD
EOF
}

# ---------------------------------------------------------------- certificates
# sign NAME CA SUBJECT [SAN]: a key and a certificate signed by CA (ca or other-ca).
sign() {
  local name=$1 ca=$2 subject=$3 san=${4:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$CERTS/$name.key" -subj "$subject" -out "$CERTS/$name.csr" 2>/dev/null
  local ext="$CERTS/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/$ca.pem" -CAkey "$CERTS/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$CERTS/$name.pem" 2>/dev/null
  rm -f "$CERTS/$name.csr" "$ext"
}

# The certificates come from this script: made again when it changes (also when shared by a cluster).
make_certs() {
  local stamp
  stamp=$(sha256sum <"$0" | cut -d' ' -f1)
  [[ -s "$CERTS/client.pem" && "$(cat "$CERTS/script.stamp" 2>/dev/null)" == "$stamp" ]] && return
  say "secure-broker: generating a test CA and certificates in $CERTS"
  rm -rf "$CERTS"
  mkdir -p "$CERTS"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -keyout "$CERTS/$ca.key" -out "$CERTS/$ca.pem" \
      -subj "/CN=outbox-relay test $ca" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  done
  sign broker ca /CN=localhost "DNS:localhost,IP:127.0.0.1"
  sign broker-ip ca /CN=127.0.0.1 "IP:127.0.0.1"
  sign client ca /CN=relay-mtls
  sign stranger other-ca /CN=stranger
  # The client key once more, encrypted (KAFKA_SSL_KEY_PASSWORD): passphrase in client-key.pass.
  echo "client-key-secret" >"$CERTS/client-key.pass"
  openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$CERTS/client.key" -out "$CERTS/client.enc.key" -passout "file:$CERTS/client-key.pass"
  # Kafka's PEM key store: the private key (PKCS#8), then the certificate.
  cat "$CERTS/broker.key" "$CERTS/broker.pem" >"$CERTS/broker-keystore.pem"
  cat "$CERTS/broker-ip.key" "$CERTS/broker-ip.pem" >"$CERTS/broker-ip-keystore.pem"
  chmod 644 "$CERTS"/*
  echo "$stamp" >"$CERTS/script.stamp"
}

# ---------------------------------------------------------------- broker
write_props() {
  local jaas_scram='org.apache.kafka.common.security.scram.ScramLoginModule required;'
  local jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER=\"$PLAIN_PASSWORD\";"
  local jaas_oauth='org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";'
  local validator=org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler
  local isr=1
  ((REPLICATION > 1)) && isr=2
  {
    cat <<EOF
# Written by stack/secure-broker.sh on each start.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$VOTERS
listeners=SASL_SSL://127.0.0.1:$P_SASL_SSL,SSL://127.0.0.1:$P_SSL,INTERNAL://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL_PLAIN,MISNAMED://127.0.0.1:$P_MISNAMED,CONTROLLER://127.0.0.1:$P_CTRL
advertised.listeners=SASL_SSL://127.0.0.1:$P_SASL_SSL,SSL://127.0.0.1:$P_SSL,INTERNAL://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL_PLAIN,MISNAMED://localhost:$P_MISNAMED
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,MISNAMED:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=$DATA
num.partitions=1
default.replication.factor=$REPLICATION
min.insync.replicas=$isr
auto.create.topics.enable=false
offsets.topic.num.partitions=1
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.num.partitions=1
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# TLS: PEM key store and trust store.
ssl.keystore.type=PEM
ssl.keystore.location=$CERTS/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS/ca.pem
listener.name.ssl.ssl.client.auth=required
# The misnamed listener's certificate names 127.0.0.1 only; the listener is advertised as localhost.
listener.name.misnamed.ssl.keystore.type=PEM
listener.name.misnamed.ssl.keystore.location=$CERTS/broker-ip-keystore.pem
# SASL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
# Authorisation: allow-all ACLs for User:*, deny ACLs for $NOIDEM_USER (added after the first start).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
EOF
    local l
    for l in sasl_ssl sasl_plaintext misnamed; do
      echo "listener.name.$l.plain.sasl.jaas.config=$jaas_plain"
      echo "listener.name.$l.scram-sha-256.sasl.jaas.config=$jaas_scram"
      echo "listener.name.$l.scram-sha-512.sasl.jaas.config=$jaas_scram"
      echo "listener.name.$l.oauthbearer.sasl.jaas.config=$jaas_oauth"
      echo "listener.name.$l.oauthbearer.sasl.server.callback.handler.class=$validator"
    done
    echo "listener.name.sasl_plaintext.oauthbearer.connections.max.reauth.ms=20000"
  } >"$PROPS.tmp"
  mv "$PROPS.tmp" "$PROPS"
}

format() {
  [[ -f "$DATA/meta.properties" ]] && return
  mkdir -p "$DATA"
  local id
  if [[ -n "$CLUSTER_ID_FILE" && -s "$CLUSTER_ID_FILE" ]]; then
    id=$(<"$CLUSTER_ID_FILE")
  else
    while :; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
      [[ "$id" != -* ]] && break
    done
    [[ -n "$CLUSTER_ID_FILE" ]] && echo "$id" >"$CLUSTER_ID_FILE"
  fi
  say "secure-broker: formatting $DATA with SCRAM users $SCRAM256_USER, $SCRAM512_USER, $NOIDEM_USER"
  "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$PROPS" --ignore-formatted \
    --add-scram "SCRAM-SHA-256=[name=$SCRAM256_USER,password=$SCRAM256_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM512_USER,password=$SCRAM512_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$NOIDEM_USER,password=$NOIDEM_PASSWORD]" >"$DIR/format.log" 2>&1 ||
    { cat "$DIR/format.log" >&2; die "StorageTool format failed"; }
}

tool() {
  local cls=$1
  shift
  "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$cls" --bootstrap-server "127.0.0.1:$P_PLAIN" "$@"
}

add_acls() {
  [[ -f "$DATA/acls.done" ]] && return
  say "secure-broker: adding ACLs"
  tool org.apache.kafka.tools.AclCommand --add --allow-principal 'User:*' --operation All \
    --topic '*' --group '*' --transactional-id '*' --cluster >"$DIR/acls.log" 2>&1 ||
    { cat "$DIR/acls.log" >&2; die "AclCommand (allow) failed"; }
  tool org.apache.kafka.tools.AclCommand --add --deny-principal "User:$NOIDEM_USER" \
    --operation IdempotentWrite --cluster >>"$DIR/acls.log" 2>&1 ||
    { cat "$DIR/acls.log" >&2; die "AclCommand (deny IdempotentWrite) failed"; }
  tool org.apache.kafka.tools.AclCommand --add --deny-principal "User:$NOIDEM_USER" \
    --operation Write --topic '*' >>"$DIR/acls.log" 2>&1 ||
    { cat "$DIR/acls.log" >&2; die "AclCommand (deny Write) failed"; }
  : >"$DATA/acls.done"
}

alive() { kafka_pid_alive "$PID_FILE"; }

# Wait until the node answers on its plaintext listener (a node of a cluster: once a quorum is up).
wait_ready() {
  local started=$SECONDS
  until kafka_probe "$P_PLAIN"; do
    if ((SECONDS - started > 5)) && ! alive; then
      grep -E 'ERROR|FATAL|Exception' "$LOG" | head -n 10 >&2 || true
      die "the secure broker exited during startup (log: $LOG)"
    fi
    ((SECONDS - started < KAFKA_START_TIMEOUT)) || die "the secure broker did not answer within ${KAFKA_START_TIMEOUT}s (log: $LOG)"
    sleep 0.5
  done
}

# Once the node answers: the ACLs (unless another node of the cluster adds them), then the listeners.
ready() {
  [[ "$ACLS" == 1 ]] && add_acls
  print_env
}

up() {
  mkdir -p "$DIR"
  exec 9>"$DIR/up.lock"
  flock -w 300 9 || die "another secure-broker.sh holds $DIR/up.lock"
  local stamp
  stamp=$({ cat "$0"; echo "${SECURE_STAMP:-}"; } | sha256sum | cut -d' ' -f1)
  if alive && [[ "$(cat "$DIR/script.stamp" 2>/dev/null)" == "$stamp" ]]; then
    if kafka_probe "$P_PLAIN"; then
      say "secure-broker: reusing pid $(<"$PID_FILE") (node $NODE_ID)"
    elif [[ "$WAIT" == 1 ]]; then
      say "secure-broker: pid $(<"$PID_FILE") (node $NODE_ID) is starting; waiting"
      wait_ready
    else
      say "secure-broker: pid $(<"$PID_FILE") (node $NODE_ID) is starting"
      print_env
      return
    fi
    ready
    return
  fi
  alive && down
  if [[ "$(cat "$DIR/script.stamp" 2>/dev/null)" != "$stamp" ]]; then
    # Users and ACLs come from this script: a changed script starts afresh.
    rm -rf "$DATA"
  fi
  local p
  for p in $P_SASL_SSL $P_SSL $P_PLAIN $P_SASL_PLAIN $P_MISNAMED $P_CTRL; do
    port_open "$p" && die "port 127.0.0.1:$p is in use (set SECURE_KAFKA_PORT)"
  done
  bash "$here/up.sh" libs
  make_certs
  write_props
  format
  echo "$stamp" >"$DIR/script.stamp"
  say "secure-broker: starting node $NODE_ID on 127.0.0.1:$P_SASL_SSL-$P_MISNAMED (heap $KAFKA_HEAP)"
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$JAVA" "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true "-Dkafka.logs.dir=$DIR" \
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" \
    </dev/null >"$LOG" 2>&1 9>&- &
  if [[ "$WAIT" != 1 ]]; then
    say "secure-broker: launched node $NODE_ID; not waiting"
    print_env
    return
  fi
  wait_ready
  say "secure-broker: ready (pid $(<"$PID_FILE"), ${SECONDS}s)"
  ready
}

down() {
  alive || { rm -f "$PID_FILE"; return 0; }
  local pid i
  pid=$(<"$PID_FILE")
  say "secure-broker: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do alive || break; sleep 0.1; done
  alive && kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do alive || break; sleep 0.1; done
  rm -f "$PID_FILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) print_env ;;
  dump)
    shift
    files=()
    for t in "$@"; do files+=("$DATA/$t-0/"*.log); done
    "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.DumpLogSegments --deep-iteration --print-data-log \
      --files "$(IFS=,; echo "${files[*]}")"
    ;;
  tool)
    [[ -n "${2:-}" ]] || die "tool needs a class name"
    shift
    tool "$@"
    ;;
  *)
    sed -n '2,41p' "$0" >&2
    exit 2
    ;;
esac
