//! Pagination and list documents shared by every list operation: `page[first|last|before|after]`,
//! `count=true|false|only`, and the `links`/`meta` of a list.

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{Enum, Object};
use ulid::Ulid;

use super::error::AdminError;
use crate::store::{
    Reader, Store, StoreError,
    pagination::{Page, Pagination, SessionTimes},
};

/// Items per page when neither `page[first]` nor `page[last]` is given.
pub const DEFAULT_PAGE_SIZE: u32 = 10;

/// Whether a list answer includes the total count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
#[oai(rename_all = "lowercase")]
pub enum CountMode {
    /// The page and the count (the default).
    #[default]
    True,
    /// The page only (cheaper).
    False,
    /// The count only, no items.
    Only,
}

/// `links.self` of a resource.
#[derive(Debug, Clone, Object)]
pub struct SelfLinks {
    /// This resource's own URL.
    #[oai(rename = "self")]
    pub self_: String,
}

/// `links` of a list: the page itself, the first and last pages, and the neighbours.
#[derive(Debug, Clone, Object)]
pub struct ListLinks {
    #[oai(rename = "self")]
    pub self_: String,
    pub first: String,
    pub last: String,
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub prev: Option<String>,
}

/// `meta` of a list.
#[derive(Debug, Clone, Object)]
pub struct ListMeta {
    /// How many items match the filters (all pages).
    pub count: u64,
}

/// The cursor of an item: pass it as `page[after]` or `page[before]`.
#[derive(Debug, Clone, Object)]
pub struct PageCursor {
    pub cursor: String,
}

/// `meta` of an item in a list.
#[derive(Debug, Clone, Object)]
pub struct ItemMeta {
    pub page: PageCursor,
}

/// The raw pagination query parameters.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub first: Option<u32>,
    pub last: Option<u32>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub count: Option<CountMode>,
}

fn parse_cursor(name: &str, value: &Option<String>) -> Result<Option<Ulid>, AdminError> {
    value
        .as_deref()
        .map(|text| {
            Ulid::from_string(text).map_err(|_| {
                AdminError::bad_request(format!("{name} is not a valid cursor (a ULID)"))
            })
        })
        .transpose()
}

impl PageParams {
    /// The store's view of these parameters; both `page[first]` and `page[last]` is a 400.
    pub fn pagination(&self) -> Result<Pagination, AdminError> {
        let before = parse_cursor("page[before]", &self.before)?;
        let after = parse_cursor("page[after]", &self.after)?;
        let mut pagination = match (self.first, self.last) {
            (Some(_), Some(_)) => {
                return Err(AdminError::bad_request(
                    "page[first] and page[last] cannot be used together",
                ));
            }
            (Some(first), None) => Pagination::first(first as usize),
            (None, Some(last)) => Pagination::last(last as usize),
            (None, None) => Pagination::first(DEFAULT_PAGE_SIZE as usize),
        };
        pagination.before = before;
        pagination.after = after;
        Ok(pagination)
    }

    pub fn count_mode(&self) -> CountMode {
        self.count.unwrap_or_default()
    }

    /// What the request asked for, read on one connection: the page (unless `count=only`)
    /// and the total count (unless `count=false`).
    pub async fn read<T>(
        &self,
        store: &Store,
        page: impl AsyncFnOnce(&mut Reader) -> Result<Page<T>, StoreError>,
        count: impl AsyncFnOnce(&mut Reader) -> Result<u64, StoreError>,
    ) -> Result<(Option<Page<T>>, Option<u64>), AdminError> {
        let mode = self.count_mode();
        let mut reader = store.reader().await?;
        let page = match mode {
            CountMode::Only => None,
            _ => Some(page(&mut reader).await?),
        };
        let count = match mode {
            CountMode::False => None,
            _ => Some(count(&mut reader).await?),
        };
        Ok((page, count))
    }

    fn size(&self) -> u32 {
        self.first.or(self.last).unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

/// Builds the URLs of a list: its path, its filters (kept on every link) and the page asked for.
pub struct Linker {
    path: String,
    filters: Vec<(&'static str, String)>,
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl Linker {
    pub fn new(path: &str) -> Self {
        Self {
            path: format!("{}{path}", super::BASE_PATH),
            filters: Vec::new(),
        }
    }

    /// Keep `name=value` on every link when `value` is set.
    pub fn filter(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.filters.push((name, value.to_string()));
        }
        self
    }

    /// Keep a time filter on every link, in RFC 3339 as it is given.
    pub fn time(self, name: &'static str, value: Option<DateTime<Utc>>) -> Self {
        self.filter(
            name,
            value.map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        )
    }

    /// Keep the session time filters on every link.
    pub fn session_times(self, times: &SessionTimes) -> Self {
        self.time("filter[created-after]", times.created_after)
            .time("filter[created-before]", times.created_before)
            .time("filter[last-active-after]", times.last_active_after)
            .time("filter[last-active-before]", times.last_active_before)
    }

    fn link(&self, page: &[(&str, String)]) -> String {
        let query: Vec<String> = self
            .filters
            .iter()
            .map(|(name, value)| (*name, value))
            .chain(page.iter().map(|(name, value)| (*name, value)))
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect();
        if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, query.join("&"))
        }
    }

    /// `links` for a list answer.
    pub fn links<R: Paginated>(&self, params: &PageParams, page: Option<&Page<R>>) -> ListLinks {
        let size = params.size().to_string();
        let mut current = Vec::new();
        for (name, value) in [
            ("page[first]", params.first.map(|n| n.to_string())),
            ("page[last]", params.last.map(|n| n.to_string())),
            ("page[before]", params.before.clone()),
            ("page[after]", params.after.clone()),
        ] {
            if let Some(value) = value {
                current.push((name, value));
            }
        }
        if let Some(count) = params.count {
            let text = match count {
                CountMode::True => "true",
                CountMode::False => "false",
                CountMode::Only => "only",
            };
            current.push(("count", text.to_owned()));
        }
        let next = page.filter(|page| page.has_next_page).and_then(|page| {
            page.edges.last().map(|last| {
                self.link(&[
                    ("page[after]", last.cursor().to_owned()),
                    ("page[first]", size.clone()),
                ])
            })
        });
        let prev = page.filter(|page| page.has_previous_page).and_then(|page| {
            page.edges.first().map(|first| {
                self.link(&[
                    ("page[before]", first.cursor().to_owned()),
                    ("page[last]", size.clone()),
                ])
            })
        });
        ListLinks {
            self_: self.link(&current),
            first: self.link(&[("page[first]", size.clone())]),
            last: self.link(&[("page[last]", size.clone())]),
            next,
            prev,
        }
    }
}

/// A resource that can be an item of a list.
pub trait Paginated {
    fn cursor(&self) -> &str;
    fn with_cursor(self) -> Self;
}

/// Declare a resource (`{type, id, attributes, links, meta?}`) with its single document
/// (`{data, links}`) and its list document (`{meta?, data?, links}`). Their examples are the
/// resource with ID `$example_id` and the attributes' example, alone or as a one-item list.
macro_rules! resource {
    (
        $(#[$doc:meta])*
        $resource:ident, $single:ident, $list:ident, $attributes:ty, $type_name:literal, $path:literal,
        $example_id:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, poem_openapi::Object)]
        #[oai(example)]
        pub struct $resource {
            #[doc = concat!("Always `", $type_name, "`.")]
            #[oai(rename = "type")]
            pub type_: String,
            /// The resource's ID (a ULID).
            pub id: String,
            pub attributes: $attributes,
            pub links: $crate::http::admin::pagination::SelfLinks,
            /// Present on items of a list.
            #[oai(skip_serializing_if_is_none)]
            pub meta: Option<$crate::http::admin::pagination::ItemMeta>,
        }

        impl $resource {
            pub fn new(id: ::ulid::Ulid, attributes: $attributes) -> Self {
                let id = id.to_string();
                Self {
                    type_: $type_name.to_owned(),
                    links: $crate::http::admin::pagination::SelfLinks {
                        self_: format!("{}{}/{}", $crate::http::admin::BASE_PATH, $path, id),
                    },
                    id,
                    attributes,
                    meta: None,
                }
            }

            /// The single-resource document for this resource.
            pub fn single(self) -> poem_openapi::payload::Json<$single> {
                poem_openapi::payload::Json($single {
                    links: self.links.clone(),
                    data: self,
                })
            }
        }

        impl poem_openapi::types::Example for $resource {
            fn example() -> Self {
                Self::new($example_id, poem_openapi::types::Example::example())
            }
        }

        impl $crate::http::admin::pagination::Paginated for $resource {
            fn cursor(&self) -> &str {
                &self.id
            }

            fn with_cursor(mut self) -> Self {
                self.meta = Some($crate::http::admin::pagination::ItemMeta {
                    page: $crate::http::admin::pagination::PageCursor {
                        cursor: self.id.clone(),
                    },
                });
                self
            }
        }

        #[doc = concat!("A single `", $type_name, "` resource.")]
        #[derive(Debug, Clone, poem_openapi::Object)]
        #[oai(example)]
        pub struct $single {
            pub data: $resource,
            pub links: $crate::http::admin::pagination::SelfLinks,
        }

        impl poem_openapi::types::Example for $single {
            fn example() -> Self {
                <$resource as poem_openapi::types::Example>::example().single().0
            }
        }

        #[doc = concat!("A page of `", $type_name, "` resources.")]
        #[derive(Debug, Clone, poem_openapi::Object)]
        #[oai(example)]
        pub struct $list {
            /// The total count (unless `count=false`).
            #[oai(skip_serializing_if_is_none)]
            pub meta: Option<$crate::http::admin::pagination::ListMeta>,
            /// The page (unless `count=only`).
            #[oai(skip_serializing_if_is_none)]
            pub data: Option<Vec<$resource>>,
            pub links: $crate::http::admin::pagination::ListLinks,
        }

        impl $list {
            pub fn new(
                linker: &$crate::http::admin::pagination::Linker,
                params: &$crate::http::admin::pagination::PageParams,
                page: Option<$crate::store::pagination::Page<$resource>>,
                count: Option<u64>,
            ) -> poem_openapi::payload::Json<Self> {
                let links = linker.links(params, page.as_ref());
                poem_openapi::payload::Json(Self {
                    meta: count.map(|count| $crate::http::admin::pagination::ListMeta { count }),
                    data: page.map(|page| {
                        page.edges
                            .into_iter()
                            .map($crate::http::admin::pagination::Paginated::with_cursor)
                            .collect()
                    }),
                    links,
                })
            }
        }

        impl poem_openapi::types::Example for $list {
            /// The first page, of one item.
            fn example() -> Self {
                let page = $crate::store::pagination::Page {
                    edges: vec![poem_openapi::types::Example::example()],
                    has_next_page: false,
                    has_previous_page: false,
                };
                Self::new(
                    &$crate::http::admin::pagination::Linker::new($path),
                    &Default::default(),
                    Some(page),
                    Some(1),
                )
                .0
            }
        }
    };
}

pub(crate) use resource;
