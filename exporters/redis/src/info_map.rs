//! Which `INFO` fields become metrics, under which names and types: redis_exporter's
//! `metricMapGauges` / `metricMapCounters`, with the release each entry belongs to.
//!
//! Entries marked [`Since::Both`] were verified against the output of Debian's
//! redis_exporter 1.45.0 scraping Redis 7.0 (or are in its map for fields Redis 7.0 does not
//! print); [`Since::Upstream`] entries were added to redis_exporter after 1.45.0.

use aiplatform_metrics::MetricKind;
use aiplatform_prometheus::Compat;

/// The releases that export a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// 1.45.0 and current upstream.
    Both,
    /// Current upstream only.
    Upstream,
    /// 1.45.0 only (upstream changed it).
    Debian12,
}

impl Since {
    fn includes(self, compat: Compat) -> bool {
        match self {
            Since::Both => true,
            Since::Upstream => compat == Compat::Upstream,
            Since::Debian12 => compat == Compat::Debian12,
        }
    }
}

/// One mapping: INFO field → metric name (without namespace) and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoMetric {
    /// The INFO field name.
    pub field: &'static str,
    /// The metric name without the namespace prefix; HELP is `"<name> metric"`.
    pub name: &'static str,
    /// Gauge or counter, as redis_exporter declares it (`prometheus.GaugeValue` or
    /// `CounterValue`).
    pub kind: MetricKind,
    /// The releases that export it.
    pub since: Since,
}

const fn g(field: &'static str, name: &'static str, since: Since) -> InfoMetric {
    InfoMetric {
        field,
        name,
        kind: MetricKind::Gauge,
        since,
    }
}

const fn c(field: &'static str, name: &'static str, since: Since) -> InfoMetric {
    InfoMetric {
        field,
        name,
        kind: MetricKind::Counter,
        since,
    }
}

use Since::{Both as B, Debian12 as D, Upstream as U};

/// Every mapping, both profiles.
pub const INFO_METRICS: &[InfoMetric] = &[
    // # Server
    g("uptime_in_seconds", "uptime_in_seconds", B),
    g("process_id", "process_id", B),
    g("io_threads_active", "io_threads_active", B),
    // # Clients
    g("connected_clients", "connected_clients", B),
    g("active_clients", "active_clients", U),
    g("blocked_clients", "blocked_clients", B),
    g("maxclients", "max_clients", U),
    g("tracking_clients", "tracking_clients", B),
    g("clients_in_timeout_table", "clients_in_timeout_table", B),
    g("pubsub_clients", "pubsub_clients", U),
    g("watching_clients", "watching_clients", U),
    g("total_watched_keys", "total_watched_keys", U),
    g("total_blocking_keys", "total_blocking_keys", U),
    g(
        "total_blocking_keys_on_nokey",
        "total_blocking_keys_on_nokey",
        U,
    ),
    g(
        "client_longest_output_list",
        "client_longest_output_list",
        B,
    ),
    g("client_biggest_input_buf", "client_biggest_input_buf", B),
    g(
        "client_recent_max_output_buffer",
        "client_recent_max_output_buffer_bytes",
        B,
    ),
    g(
        "client_recent_max_input_buffer",
        "client_recent_max_input_buffer_bytes",
        B,
    ),
    // # Memory
    g("allocator_active", "allocator_active_bytes", B),
    g("allocator_allocated", "allocator_allocated_bytes", B),
    g("allocator_resident", "allocator_resident_bytes", B),
    g("allocator_frag_ratio", "allocator_frag_ratio", B),
    g("allocator_frag_bytes", "allocator_frag_bytes", B),
    g("allocator_muzzy", "allocator_muzzy_bytes", U),
    g("allocator_rss_ratio", "allocator_rss_ratio", B),
    g("allocator_rss_bytes", "allocator_rss_bytes", B),
    g("used_memory", "memory_used_bytes", B),
    g("used_memory_rss", "memory_used_rss_bytes", B),
    g("used_memory_peak", "memory_used_peak_bytes", B),
    g("used_memory_lua", "memory_used_lua_bytes", B),
    g("used_memory_vm_eval", "memory_used_vm_eval_bytes", U),
    g(
        "used_memory_scripts_eval",
        "memory_used_scripts_eval_bytes",
        U,
    ),
    g("used_memory_overhead", "memory_used_overhead_bytes", B),
    g("used_memory_startup", "memory_used_startup_bytes", B),
    g("used_memory_dataset", "memory_used_dataset_bytes", B),
    g("number_of_cached_scripts", "number_of_cached_scripts", B),
    g("number_of_functions", "number_of_functions", U),
    g("number_of_libraries", "number_of_libraries", U),
    g(
        "used_memory_vm_functions",
        "memory_used_vm_functions_bytes",
        U,
    ),
    g("used_memory_scripts", "memory_used_scripts_bytes", B),
    g("used_memory_functions", "memory_used_functions_bytes", U),
    g("used_memory_vm_total", "memory_used_vm_total", U),
    g("maxmemory", "memory_max_bytes", B),
    g("maxmemory_reservation", "memory_max_reservation_bytes", B),
    g(
        "maxmemory_desired_reservation",
        "memory_max_reservation_desired_bytes",
        B,
    ),
    g(
        "used_memory_hash_templates",
        "memory_used_hash_templates_bytes",
        U,
    ),
    g(
        "maxfragmentationmemory_reservation",
        "memory_max_fragmentation_reservation_bytes",
        B,
    ),
    g(
        "maxfragmentationmemory_desired_reservation",
        "memory_max_fragmentation_reservation_desired_bytes",
        B,
    ),
    g("mem_fragmentation_ratio", "mem_fragmentation_ratio", B),
    g("mem_fragmentation_bytes", "mem_fragmentation_bytes", B),
    g("mem_clients_slaves", "mem_clients_slaves", B),
    g("mem_clients_normal", "mem_clients_normal", B),
    g("mem_cluster_links", "mem_cluster_links_bytes", U),
    g("mem_aof_buffer", "mem_aof_buffer_bytes", U),
    g(
        "mem_replication_backlog",
        "mem_replication_backlog_bytes",
        U,
    ),
    g(
        "mem_replicas_repl_buffer",
        "mem_replicas_repl_buffer_bytes",
        U,
    ),
    g("expired_stale_perc", "expired_stale_percentage", B),
    g(
        "expired_keys_with_volatile_items_stale_perc",
        "expired_keys_with_volatile_items_stale_percentage",
        U,
    ),
    g(
        "mem_not_counted_for_evict",
        "mem_not_counted_for_eviction_bytes",
        B,
    ),
    g(
        "mem_total_replication_buffers",
        "mem_total_replication_buffers_bytes",
        U,
    ),
    g(
        "mem_overhead_db_hashtable_rehashing",
        "mem_overhead_db_hashtable_rehashing_bytes",
        U,
    ),
    g("lazyfree_pending_objects", "lazyfree_pending_objects", B),
    g("lazyfreed_objects", "lazyfreed_objects", U),
    g("active_defrag_running", "active_defrag_running", B),
    g("migrate_cached_sockets", "migrate_cached_sockets_total", B),
    g("active_defrag_hits", "defrag_hits", B),
    g("active_defrag_misses", "defrag_misses", B),
    g("active_defrag_key_hits", "defrag_key_hits", B),
    g("active_defrag_key_misses", "defrag_key_misses", B),
    // 1.45.0 exported this counter as a gauge; upstream fixed the type.
    g(
        "expired_time_cap_reached_count",
        "expired_time_cap_reached_total",
        D,
    ),
    c(
        "expired_time_cap_reached_count",
        "expired_time_cap_reached_total",
        U,
    ),
    // # Persistence
    g("loading", "loading_dump_file", B),
    g("async_loading", "async_loading", U),
    g(
        "rdb_changes_since_last_save",
        "rdb_changes_since_last_save",
        B,
    ),
    g("rdb_bgsave_in_progress", "rdb_bgsave_in_progress", B),
    g("backup_in_progress", "backup_in_progress", U),
    g("rdb_last_save_time", "rdb_last_save_timestamp_seconds", B),
    g("rdb_last_bgsave_status", "rdb_last_bgsave_status", B),
    g(
        "rdb_last_bgsave_time_sec",
        "rdb_last_bgsave_duration_sec",
        B,
    ),
    g(
        "rdb_current_bgsave_time_sec",
        "rdb_current_bgsave_duration_sec",
        B,
    ),
    g("rdb_saves", "rdb_saves_total", U),
    g("rdb_last_cow_size", "rdb_last_cow_size_bytes", B),
    g(
        "rdb_last_load_keys_expired",
        "rdb_last_load_expired_keys",
        U,
    ),
    g("rdb_last_load_keys_loaded", "rdb_last_load_loaded_keys", U),
    g("aof_enabled", "aof_enabled", B),
    g("aof_rewrite_in_progress", "aof_rewrite_in_progress", B),
    g("aof_rewrite_scheduled", "aof_rewrite_scheduled", B),
    g(
        "aof_last_rewrite_time_sec",
        "aof_last_rewrite_duration_sec",
        B,
    ),
    g(
        "aof_current_rewrite_time_sec",
        "aof_current_rewrite_duration_sec",
        B,
    ),
    g("aof_last_cow_size", "aof_last_cow_size_bytes", B),
    g("aof_current_size", "aof_current_size_bytes", B),
    g("aof_base_size", "aof_base_size_bytes", B),
    g("aof_pending_rewrite", "aof_pending_rewrite", B),
    g("aof_buffer_length", "aof_buffer_length", B),
    g("aof_rewrite_buffer_length", "aof_rewrite_buffer_length", B),
    g("aof_pending_bio_fsync", "aof_pending_bio_fsync", B),
    g("aof_delayed_fsync", "aof_delayed_fsync", B),
    g("aof_last_bgrewrite_status", "aof_last_bgrewrite_status", B),
    g("aof_last_write_status", "aof_last_write_status", B),
    g("module_fork_in_progress", "module_fork_in_progress", B),
    g("module_fork_last_cow_size", "module_fork_last_cow_size", B),
    // # Stats
    g(
        "current_eviction_exceeded_time",
        "current_eviction_exceeded_time_ms",
        U,
    ),
    g("pubsub_channels", "pubsub_channels", B),
    g("pubsub_patterns", "pubsub_patterns", B),
    g("pubsubshard_channels", "pubsubshard_channels", U),
    g("latest_fork_usec", "latest_fork_usec", B),
    g("tracking_total_keys", "tracking_total_keys", B),
    g("tracking_total_items", "tracking_total_items", B),
    g("tracking_total_prefixes", "tracking_total_prefixes", B),
    g("hash_templates", "hash_templates", U),
    g("hash_template_keys", "hash_template_keys", U),
    g(
        "instantaneous_eventloop_cycles_per_sec",
        "instantaneous_eventloop_cycles_per_sec",
        U,
    ),
    g(
        "instantaneous_eventloop_duration_usec",
        "instantaneous_eventloop_duration_usec",
        U,
    ),
    g(
        "avg_pipeline_length",
        "client_processing_pipeline_length",
        U,
    ),
    g(
        "slowlog_commands_time_ms_max",
        "slowlog_commands_duration_seconds_max",
        U,
    ),
    // # Replication
    g("connected_slaves", "connected_slaves", B),
    g("repl_backlog_size", "replication_backlog_bytes", B),
    g("repl_backlog_active", "repl_backlog_is_active", B),
    g(
        "repl_backlog_first_byte_offset",
        "repl_backlog_first_byte_offset",
        B,
    ),
    g("repl_backlog_histlen", "repl_backlog_history_bytes", B),
    g("master_repl_offset", "master_repl_offset", B),
    g("second_repl_offset", "second_repl_offset", B),
    g(
        "slave_expires_tracked_keys",
        "slave_expires_tracked_keys",
        B,
    ),
    g("slave_priority", "slave_priority", B),
    g("sync_full", "replica_resyncs_full", B),
    g("sync_partial_ok", "replica_partial_resync_accepted", B),
    g("sync_partial_err", "replica_partial_resync_denied", B),
    g(
        "replicas_repl_buffer_size",
        "replicas_repl_buffer_size_bytes",
        U,
    ),
    g(
        "replicas_repl_buffer_peak",
        "replicas_repl_buffer_peak_bytes",
        U,
    ),
    g("replicas_waiting_psync", "replicas_waiting_psync", U),
    // # TLS, # Scripting Engines (Valkey)
    g(
        "tls_server_cert_expires_in_seconds",
        "tls_server_cert_expires_in_seconds",
        U,
    ),
    g(
        "tls_client_cert_expires_in_seconds",
        "tls_client_cert_expires_in_seconds",
        U,
    ),
    g(
        "tls_ca_cert_expires_in_seconds",
        "tls_ca_cert_expires_in_seconds",
        U,
    ),
    g("engines_count", "scripting_engines_count", U),
    g(
        "engines_total_used_memory",
        "scripting_engines_memory_used_bytes",
        U,
    ),
    g(
        "engines_total_memory_overhead",
        "scripting_engines_memory_overhead_bytes",
        U,
    ),
    // # Cluster
    g(
        "cluster_stats_messages_sent",
        "cluster_messages_sent_total",
        B,
    ),
    g(
        "cluster_stats_messages_received",
        "cluster_messages_received_total",
        B,
    ),
    // # Tile38
    g("tile38_aof_size", "tile38_aof_size_bytes", B),
    g("tile38_avg_point_size", "tile38_avg_item_size_bytes", B),
    g("tile38_sys_cpus", "tile38_cpus_total", B),
    g(
        "tile38_heap_released_bytes",
        "tile38_heap_released_bytes",
        B,
    ),
    g("tile38_heap_alloc_bytes", "tile38_heap_size_bytes", B),
    g("tile38_http_transport", "tile38_http_transport", B),
    g("tile38_in_memory_size", "tile38_in_memory_size_bytes", B),
    g("tile38_max_heap_size", "tile38_max_heap_size_bytes", B),
    g("tile38_alloc_bytes", "tile38_mem_alloc_bytes", B),
    g("tile38_num_collections", "tile38_num_collections_total", B),
    g("tile38_num_hooks", "tile38_num_hooks_total", B),
    g("tile38_num_objects", "tile38_num_objects_total", B),
    g("tile38_num_points", "tile38_num_points_total", B),
    g("tile38_pointer_size", "tile38_pointer_size_bytes", B),
    g("tile38_read_only", "tile38_read_only", B),
    g("tile38_go_threads", "tile38_threads_total", B),
    g("tile38_go_goroutines", "tile38_go_goroutines_total", B),
    g(
        "tile38_last_gc_time_seconds",
        "tile38_last_gc_time_seconds",
        B,
    ),
    g("tile38_next_gc_bytes", "tile38_next_gc_bytes", B),
    // KeyDB
    g("server_threads", "server_threads_total", B),
    g("long_lock_waits", "long_lock_waits_total", B),
    g("current_client_thread", "current_client_thread", B),
    // Modules (RediSearch, Valkey bloom/json/search)
    g("search_number_of_indexes", "search_number_of_indexes", U),
    g(
        "search_used_memory_indexes",
        "search_used_memory_indexes_bytes",
        U,
    ),
    g("search_dialect_1", "search_dialect_1", U),
    g("search_dialect_2", "search_dialect_2", U),
    g("search_dialect_3", "search_dialect_3", U),
    g("search_dialect_4", "search_dialect_4", U),
    g("search_global_idle", "search_global_idle", U),
    g("search_global_total", "search_global_total", U),
    g("search_bytes_collected", "search_collected_bytes", U),
    g(
        "search_number_of_active_indexes",
        "search_number_of_active_indexes",
        U,
    ),
    g(
        "search_number_of_active_indexes_running_queries",
        "search_number_of_active_indexes_running_queries",
        U,
    ),
    g(
        "search_number_of_active_indexes_indexing",
        "search_number_of_active_indexes_indexing",
        U,
    ),
    g(
        "search_total_active_write_threads",
        "search_total_active_write_threads",
        U,
    ),
    g(
        "search_total_num_docs_in_indexes",
        "search_total_num_docs_in_indexes",
        U,
    ),
    g(
        "search_smallest_memory_index",
        "search_smallest_memory_index_bytes",
        U,
    ),
    g(
        "search_largest_memory_index",
        "search_largest_memory_index_bytes",
        U,
    ),
    g(
        "search_used_memory_vector_index",
        "search_used_memory_vector_index_bytes",
        U,
    ),
    g("search_global_idle_user", "search_global_idle_user", U),
    g(
        "search_global_idle_internal",
        "search_global_idle_internal",
        U,
    ),
    g("search_global_total_user", "search_global_total_user", U),
    g(
        "search_global_total_internal",
        "search_global_total_internal",
        U,
    ),
    g("search_gc_bytes_collected", "search_gc_collected_bytes", U),
    g(
        "search_gc_total_docs_not_collected",
        "search_gc_total_docs_not_collected",
        U,
    ),
    g(
        "search_gc_marked_deleted_vectors",
        "search_gc_marked_deleted_vectors",
        U,
    ),
    g(
        "search_errors_indexing_failures",
        "search_errors_indexing_failures",
        U,
    ),
    g(
        "bf_bloom_total_memory_bytes",
        "bf_bloom_total_memory_bytes",
        U,
    ),
    g("bf_bloom_num_objects", "bf_bloom_num_objects", U),
    g(
        "bf_bloom_num_filters_across_objects",
        "bf_bloom_num_filters_across_objects",
        U,
    ),
    g(
        "bf_bloom_num_items_across_objects",
        "bf_bloom_num_items_across_objects",
        U,
    ),
    g(
        "bf_bloom_capacity_across_objects",
        "bf_bloom_capacity_across_objects",
        U,
    ),
    g("json_total_memory_bytes", "json_total_memory_bytes", U),
    g("json_num_documents", "json_num_documents", U),
    g("search_used_memory_bytes", "search_used_memory_bytes", U),
    g(
        "search_number_of_attributes",
        "search_number_of_attributes",
        U,
    ),
    g(
        "search_total_indexed_documents",
        "search_total_indexed_documents",
        U,
    ),
    g("search_query_queue_size", "search_query_queue_size", U),
    g("search_writer_queue_size", "search_writer_queue_size", U),
    g(
        "search_string_interning_store_size",
        "search_string_interning_store_size",
        U,
    ),
    g(
        "search_vector_externing_hash_extern_errors",
        "search_vector_externing_hash_extern_errors",
        U,
    ),
    g(
        "search_vector_externing_num_lru_entries",
        "search_vector_externing_num_lru_entries",
        U,
    ),
    // Counters
    c(
        "total_connections_received",
        "connections_received_total",
        B,
    ),
    c("total_commands_processed", "commands_processed_total", B),
    c("rejected_connections", "rejected_connections_total", B),
    c("total_net_input_bytes", "net_input_bytes_total", B),
    c("total_net_output_bytes", "net_output_bytes_total", B),
    c(
        "total_net_repl_input_bytes",
        "net_repl_input_bytes_total",
        U,
    ),
    c(
        "total_net_repl_output_bytes",
        "net_repl_output_bytes_total",
        U,
    ),
    c("expired_subkeys", "expired_subkeys_total", U),
    c("expired_fields", "expired_fields_total", U),
    c("expired_keys", "expired_keys_total", B),
    c(
        "expire_cycle_cpu_milliseconds",
        "expire_cycle_cpu_time_ms_total",
        U,
    ),
    c("evicted_keys", "evicted_keys_total", B),
    c("evicted_clients", "evicted_clients_total", U),
    c("evicted_scripts", "evicted_scripts_total", U),
    c(
        "total_eviction_exceeded_time",
        "eviction_exceeded_time_ms_total",
        U,
    ),
    c("keyspace_hits", "keyspace_hits_total", B),
    c("keyspace_misses", "keyspace_misses_total", B),
    c("eventloop_cycles", "eventloop_cycles_total", U),
    c(
        "eventloop_duration_sum",
        "eventloop_duration_sum_usec_total",
        U,
    ),
    c(
        "eventloop_duration_cmd_sum",
        "eventloop_duration_cmd_sum_usec_total",
        U,
    ),
    c(
        "eventloop_cycles_with_clients_processing",
        "eventloop_cycles_with_clients_processing_total",
        U,
    ),
    c(
        "total_client_processing_events",
        "client_processing_events_total",
        U,
    ),
    c(
        "avg_pipeline_length_sum",
        "client_processing_pipeline_commands_total",
        U,
    ),
    c(
        "avg_pipeline_length_cnt",
        "client_processing_pipeline_batches_total",
        U,
    ),
    c("slowlog_commands_count", "slowlog_commands_total", U),
    c(
        "slowlog_commands_time_ms_sum",
        "slowlog_commands_duration_seconds_total",
        U,
    ),
    c("used_cpu_sys", "cpu_sys_seconds_total", B),
    c("used_cpu_user", "cpu_user_seconds_total", B),
    c("used_cpu_sys_children", "cpu_sys_children_seconds_total", B),
    c(
        "used_cpu_user_children",
        "cpu_user_children_seconds_total",
        B,
    ),
    c(
        "used_cpu_sys_main_thread",
        "cpu_sys_main_thread_seconds_total",
        B,
    ),
    c(
        "used_cpu_user_main_thread",
        "cpu_user_main_thread_seconds_total",
        B,
    ),
    c("unexpected_error_replies", "unexpected_error_replies", B),
    c("total_error_replies", "total_error_replies", B),
    c(
        "dump_payload_sanitizations",
        "dump_payload_sanitizations",
        B,
    ),
    c("total_reads_processed", "total_reads_processed", B),
    c("total_writes_processed", "total_writes_processed", B),
    c(
        "io_threaded_reads_processed",
        "io_threaded_reads_processed",
        B,
    ),
    c(
        "io_threaded_writes_processed",
        "io_threaded_writes_processed",
        B,
    ),
    c(
        "client_query_buffer_limit_disconnections",
        "client_query_buffer_limit_disconnections_total",
        U,
    ),
    c(
        "client_output_buffer_limit_disconnections",
        "client_output_buffer_limit_disconnections_total",
        U,
    ),
    c("reply_buffer_shrinks", "reply_buffer_shrinks_total", U),
    c("reply_buffer_expands", "reply_buffer_expands_total", U),
    c("acl_access_denied_auth", "acl_access_denied_auth_total", U),
    c("acl_access_denied_cmd", "acl_access_denied_cmd_total", U),
    c("acl_access_denied_key", "acl_access_denied_key_total", U),
    c(
        "acl_access_denied_channel",
        "acl_access_denied_channel_total",
        U,
    ),
    c(
        "acl_access_denied_tls_cert",
        "acl_access_denied_tls_cert_total",
        U,
    ),
    c("acl_access_denied_db", "acl_access_denied_db_total", U),
    c("cached_keys", "cached_keys_total", U),
    c(
        "storage_provider_read_hits",
        "storage_provider_read_hits",
        U,
    ),
    c(
        "storage_provider_read_misses",
        "storage_provider_read_misses",
        U,
    ),
    c(
        "search_total_indexing_time",
        "search_indexing_time_ms_total",
        U,
    ),
    c("search_total_cycles", "search_cycles_total", U),
    c("search_total_ms_run", "search_run_ms_total", U),
    c("search_gc_total_cycles", "search_gc_cycles_total", U),
    c("search_gc_total_ms_run", "search_gc_run_ms_total", U),
    c(
        "search_total_queries_processed",
        "search_queries_processed_total",
        U,
    ),
    c(
        "search_total_query_commands",
        "search_query_commands_total",
        U,
    ),
    c(
        "search_total_query_execution_time_ms",
        "search_query_execution_time_ms_total",
        U,
    ),
    c(
        "search_total_active_queries",
        "search_active_queries_total",
        U,
    ),
    c("bf_bloom_defrag_hits", "bf_bloom_defrag_hits_total", U),
    c("bf_bloom_defrag_misses", "bf_bloom_defrag_misses_total", U),
    c(
        "used_active_time_main_thread",
        "active_time_main_thread_seconds_total",
        U,
    ),
];

/// The mappings of one profile, for lookups by INFO field.
#[derive(Debug)]
pub struct InfoMap {
    entries: Vec<InfoMetric>,
    by_field: std::collections::HashMap<&'static str, usize, foldhash::fast::FixedState>,
}

impl InfoMap {
    /// The table for `compat`; `system_metrics` adds `total_system_memory`
    /// (`--include-system-metrics`).
    pub fn new(compat: Compat, system_metrics: bool) -> InfoMap {
        let mut entries: Vec<InfoMetric> = INFO_METRICS
            .iter()
            .copied()
            .filter(|m| m.since.includes(compat))
            .collect();
        if system_metrics {
            entries.push(g("total_system_memory", "total_system_memory_bytes", B));
        }
        entries.sort_unstable_by(|a, b| a.field.cmp(b.field));
        let by_field = entries
            .iter()
            .enumerate()
            .map(|(i, m)| (m.field, i))
            .collect();
        InfoMap { entries, by_field }
    }

    /// The mapping of an INFO field, if it is exported.
    pub fn get(&self, field: &str) -> Option<&InfoMetric> {
        self.by_field.get(field).map(|&i| &self.entries[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_field_and_profile() {
        for compat in [Compat::Upstream, Compat::Debian12] {
            let map = InfoMap::new(compat, true);
            for w in map.entries.windows(2) {
                assert_ne!(w[0].field, w[1].field, "{compat}: {} twice", w[0].field);
            }
        }
    }

    #[test]
    fn profiles_differ_where_upstream_changed() {
        let new = InfoMap::new(Compat::Upstream, false);
        let old = InfoMap::new(Compat::Debian12, false);
        let f = "expired_time_cap_reached_count";
        assert_eq!(new.get(f).unwrap().kind, MetricKind::Counter);
        assert_eq!(old.get(f).unwrap().kind, MetricKind::Gauge);
        assert!(new.get("maxclients").is_some() && old.get("maxclients").is_none());
        assert_eq!(old.get("used_memory").unwrap().name, "memory_used_bytes");
        assert!(old.get("total_system_memory").is_none());
        assert!(
            InfoMap::new(Compat::Debian12, true)
                .get("total_system_memory")
                .is_some()
        );
    }
}
