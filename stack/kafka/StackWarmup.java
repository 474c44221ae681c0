// Run by stack/up.sh right after it starts a broker (java source-launcher mode, on the broker's
// classpath). A fresh KRaft broker creates __consumer_offsets / __transaction_state and its first
// block of producer ids lazily, on the first client that needs them; until then clients get
// retriable COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE errors (kafkajs logs them as
// ERROR and may restart a consumer). This touches all three once, so tests start on a warm broker.
// Usage: java -cp '<libs>/*' StackWarmup.java <bootstrap> [timeoutSeconds]
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class StackWarmup {
  public static void main(String[] args) throws Exception {
    String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
    long timeoutMs = TimeUnit.SECONDS.toMillis(args.length > 1 ? Long.parseLong(args[1]) : 60);

    Properties a = new Properties();
    a.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    a.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeoutMs);
    try (Admin admin = Admin.create(a)) {
      admin.describeCluster().nodes().get(timeoutMs, TimeUnit.MILLISECONDS);
      // FindCoordinator(GROUP) creates __consumer_offsets; the admin client retries until it is loaded.
      admin.listConsumerGroupOffsets("stack-warmup").partitionsToOffsetAndMetadata()
          .get(timeoutMs, TimeUnit.MILLISECONDS);
    }

    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "stack-warmup");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) timeoutMs);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    // initTransactions: FindCoordinator(TRANSACTION) creates __transaction_state, then
    // InitProducerId makes the broker fetch its first producer-id block from the controller.
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      producer.initTransactions();
      producer.close(Duration.ofSeconds(5));
    }
    System.out.println("warm");
  }
}
