//! The exporter helper installs a global subscriber; in its own test binary so nothing else
//! in the process depends on the global state.

#[test]
fn installs_once_and_refuses_a_second_time() {
    let guard = aiplatform_logging::init_for_exporter("debug", "logfmt").expect("first install");
    tracing::debug!(collector = "cpu", "collector succeeded");
    assert!(tracing::enabled!(tracing::Level::DEBUG));
    assert!(matches!(
        aiplatform_logging::init_for_exporter("info", "json"),
        Err(aiplatform_logging::Error::AlreadyInstalled(_))
    ));
    assert!(guard.flush(std::time::Duration::from_secs(5)));
}
