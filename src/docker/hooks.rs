//! Docker CLI hooks (docker/cli cli-plugins/manager/hooks.go): config.json's
//! `features.hooks` and `plugins.tlsctx.hooks` say after which commands
//! Docker runs `docker-tlsctx tlsctx docker-cli-plugin-hooks JSON`, and our
//! answer is a template Docker prints under "What's next".

use serde_json::json;

use super::config::ConfigFile;
use super::plugin::PLUGIN_NAME;
use crate::error::Result;

/// The commands after which Docker asks us for hints.
pub const HOOKED_COMMANDS: &str = "context use,context ls";

/// Turns the hints on or off, every other key of config.json kept.
pub fn set_enabled(config: &ConfigFile, enable: bool) -> Result<()> {
    config.edit(|doc| {
        if enable {
            let features = doc.entry("features").or_insert_with(|| json!({}));
            if let Some(f) = features.as_object_mut() {
                f.insert("hooks".into(), "true".into());
            }
            let plugins = doc.entry("plugins").or_insert_with(|| json!({}));
            if let Some(p) = plugins.as_object_mut() {
                let ours = p.entry(PLUGIN_NAME).or_insert_with(|| json!({}));
                if let Some(o) = ours.as_object_mut() {
                    o.insert("hooks".into(), HOOKED_COMMANDS.into());
                }
            }
        } else if let Some(p) = doc.get_mut("plugins").and_then(|p| p.as_object_mut()) {
            if let Some(o) = p.get_mut(PLUGIN_NAME).and_then(|o| o.as_object_mut()) {
                o.remove("hooks");
            }
        }
    })
}

/// The answer to `docker-cli-plugin-hooks`: our hint lines as the template
/// (`{"Type":0,"Template":…}`, hooks.go `HookMessage`). The template must
/// not contain Go template braces.
pub fn response(lines: &[String]) -> String {
    let template = lines
        .iter()
        .map(|l| l.replace("{{", "{ {"))
        .collect::<Vec<_>>()
        .join("\n");
    json!({ "Type": 0, "Template": template }).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn braces_never_reach_the_template() {
        let r = super::response(&["a {{x}}".into(), "b".into()]);
        assert_eq!(r, r#"{"Type":0,"Template":"a { {x}}\nb"}"#);
    }
}
