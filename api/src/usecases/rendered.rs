//! Public item documents already written as JSON, one per view the cache of recent views holds
//! (ADR 0028).
//!
//! A read without credentials is answered from a view that [`voicebin_projections::RecentViews`]
//! shares among all such reads for up to its age; while that same view is served, the public
//! document made of it is the same bytes too. Writing it anew for each request (the item, a
//! JSON tree of it, the text) was much of a small request's cost; here it is written once per
//! view. A document is served only for the very view it was made of: an entry names its view
//! by a weak reference, and a newer view of the clip (after the age, or a change forgot the
//! old one) is another allocation, so its document is written again. What may be served, and
//! for how long, is therefore exactly what the cache of recent views decides.
//!
//! Memory is bounded by the entry count: a full shard first drops the documents of views
//! nobody holds any more, then all of them. A weak reference keeps only the emptied
//! allocation of its view (what pins the address), not the view's fields.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use voicebin_projections::sharded::{lock, Sharded, SHARDS};
use voicebin_projections::ClipView;

/// Public documents of shared views.
pub struct RenderedItems {
    per_shard: usize,
    shards: Sharded<HashMap<String, Entry>>,
}

struct Entry {
    /// The view the document was made of.
    view: Weak<ClipView>,
    body: Bytes,
}

impl RenderedItems {
    /// Keeps about `entries` documents; zero keeps none.
    pub fn new(entries: usize) -> Self {
        RenderedItems {
            per_shard: entries.div_ceil(SHARDS),
            shards: Sharded::default(),
        }
    }

    /// The document `render` makes of `view`, written once for as long as `view` is the one
    /// served.
    pub fn get(&self, view: &Arc<ClipView>, render: impl FnOnce(&ClipView) -> Bytes) -> Bytes {
        if self.per_shard == 0 {
            return render(view);
        }
        let shard = self.shards.of(&view.id);
        if let Some(entry) = lock(shard).get(&view.id) {
            if std::ptr::eq(entry.view.as_ptr(), Arc::as_ptr(view)) {
                return entry.body.clone();
            }
        }
        let body = render(view);
        let mut entries = lock(shard);
        if entries.len() >= self.per_shard && !entries.contains_key(&view.id) {
            entries.retain(|_, e| e.view.strong_count() > 0);
            if entries.len() >= self.per_shard {
                entries.clear();
            }
        }
        entries.insert(
            view.id.clone(),
            Entry {
                view: Arc::downgrade(view),
                body: body.clone(),
            },
        );
        body
    }

    /// Documents held now.
    pub fn len(&self) -> usize {
        self.shards.all().map(|s| lock(s).len()).sum()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for RenderedItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedItems")
            .field("per_shard", &self.per_shard)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::Utc;
    use voicebin_domain::{AccountId, ClipEvent, ContentType, Filename, Sha256Digest, Title};

    /// A view of clip `id` as uploaded with `title`.
    fn view(id: &str, title: &str) -> Arc<ClipView> {
        let uploaded = ClipEvent::Uploaded {
            owner: AccountId::parse("owner").unwrap(),
            title: Title::parse(title).unwrap(),
            description: None,
            filename: Filename::parse("a.wav").unwrap(),
            content_type: ContentType::from_sniffed("audio/wav"),
            size_bytes: 10,
            sha256: Sha256Digest::from_hex(&"0".repeat(64)).unwrap(),
            blob_key: "clips/x".into(),
            download_limit: None,
            expires_at: None,
            at: Utc::now(),
        };
        Arc::new(ClipView::apply(None, id, 1, &uploaded).unwrap())
    }

    fn title(v: &ClipView) -> Bytes {
        Bytes::from(v.title.clone().unwrap_or_default())
    }

    #[test]
    fn the_same_view_is_written_once() {
        let rendered = RenderedItems::new(64);
        let v = view("a", "one");
        let mut writes = 0;
        for _ in 0..3 {
            let body = rendered.get(&v, |v| {
                writes += 1;
                title(v)
            });
            assert_eq!(body, "one");
        }
        assert_eq!(writes, 1);
    }

    #[test]
    fn a_newer_view_of_the_clip_is_written_anew_even_at_the_same_address() {
        let rendered = RenderedItems::new(64);
        let old = view("a", "old");
        assert_eq!(rendered.get(&old, title), "old");
        // A newer view of the clip, made while the old one is still held elsewhere.
        let newer = view("a", "new");
        assert_eq!(rendered.get(&newer, title), "new");
        // The entry names the newer view weakly: it pins the address, not the view.
        assert_eq!((Arc::weak_count(&newer), Arc::strong_count(&newer)), (1, 1));
        // Once every view is gone, a view allocated where an old one was is still not taken
        // for it: the entry's weak reference keeps that address from being reused.
        let held = Arc::as_ptr(&newer);
        drop((old, newer));
        let again = view("a", "again");
        assert_ne!(Arc::as_ptr(&again), held);
        assert_eq!(rendered.get(&again, title), "again");
    }

    #[test]
    fn documents_are_bounded_by_the_entry_count() {
        let rendered = RenderedItems::new(32);
        let held: Vec<_> = (0..1000).map(|i| view(&format!("c{i}"), "t")).collect();
        for v in &held {
            rendered.get(v, title);
        }
        assert!(rendered.len() <= 32, "{} documents held", rendered.len());
        assert!(!rendered.is_empty());
    }

    #[test]
    fn a_full_shard_drops_the_documents_of_views_nobody_holds_first() {
        // Two entries per shard.
        let rendered = RenderedItems::new(2 * SHARDS);
        let held = view("held", "kept");
        let [dead, next] = [0, 1].map(|n| {
            (0..)
                .map(|i| format!("c{i}"))
                .filter(|id| std::ptr::eq(rendered.shards.of(id), rendered.shards.of("held")))
                .nth(n)
                .unwrap()
        });
        rendered.get(&held, title);
        // The shard fills up with the document of a view dropped at once.
        rendered.get(&view(&dead, "gone"), title);
        // Another clip of the shard: the dead entry makes room, the held one stays.
        rendered.get(&view(&next, "next"), title);
        let mut writes = 0;
        rendered.get(&held, |v| {
            writes += 1;
            title(v)
        });
        assert_eq!(
            writes, 0,
            "the held view's document was dropped with the dead one"
        );
    }

    #[test]
    fn zero_entries_keeps_nothing() {
        let rendered = RenderedItems::new(0);
        let v = view("a", "one");
        let mut writes = 0;
        for _ in 0..2 {
            rendered.get(&v, |v| {
                writes += 1;
                title(v)
            });
        }
        assert_eq!((writes, rendered.len()), (2, 0));
    }
}
