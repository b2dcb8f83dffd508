//! apiary's upstream connectors, with no I/O of their own.
//!
//! # Layout
//! - [`Connector`] is the one trait every upstream implements: its parameters, how to build a
//!   request, and how to read a response — classification (which reads the body as well as the
//!   status) and parsing into normalised [`Record`]s, plus the next request when the upstream pages.
//! - One module per upstream (`arxiv`, `sec_edgar`, ...), all listed in [`all()`].
//! - [`params`] validates parameters and builds the canonical dataset key; [`path`] makes
//!   caller-supplied identifiers safe URL path segments; [`request`] holds the
//!   plain request/response types; [`redact`] keeps keys and URL passwords out of messages; [`record`] the normalised record kinds; [`error`] the error
//!   classes that drive retries and the breaker; [`wait`] bounds the waits upstreams ask for
//!   by [`MAX_RETRY_AFTER`].
//!
//! The crate knows nothing of HTTP clients, databases or queues: the worker sends the
//! [`Request`]s this crate describes, through each upstream's resilience stack, and hands back
//! [`Response`]s. That keeps every parser testable offline on recorded bodies.

pub mod error;
#[doc(hidden)]
pub mod fixtures;
pub(crate) mod json;
pub mod params;
pub mod path;
pub mod record;
pub mod redact;
pub mod request;
pub mod text;
pub mod wait;

pub mod alpha_vantage;
pub mod arxiv;
pub mod census;
pub mod crossref;
pub mod guardian;
pub mod newsapi;
pub mod polygon;
pub mod pubmed;
pub mod reddit;
pub mod sec_edgar;
pub mod semantic_scholar;
pub mod yahoo_finance;

pub use error::{ConnectorError, ErrorClass};
pub use params::{Param, ParamError, Params, dataset_key};
pub use record::Record;
pub use redact::{scrub_secret, strip_userinfo};
pub use request::{Context, Method, Page, Request, Response};
pub use wait::MAX_RETRY_AFTER;

/// The group an upstream belongs to; breaker defaults are set per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Research,
    Financial,
    News,
    Government,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Research => "research",
            Group::Financial => "financial",
            Group::News => "news",
            Group::Government => "government",
        }
    }
}

/// A connector's description, one constant per connector.
#[derive(Debug)]
pub struct Meta {
    /// The one id used for config keys, queue, cache rows, metric labels and file names.
    pub id: &'static str,
    /// One line on what this upstream serves.
    pub describe: &'static str,
    /// Which breaker defaults apply.
    pub group: Group,
    /// The upstream's own parameter names this connector accepts.
    pub params: &'static [Param],
    /// Whether calls need `APIARY_CONNECTORS__<ID>__API_KEY` (false for an optional key).
    pub requires_key: bool,
    /// Whether calls need `APIARY_CONTACT_EMAIL` (the upstream refuses anonymous callers).
    pub requires_contact: bool,
    /// The operations a breaker may be kept for (`breaker.per_operation`): the distinct endpoints
    /// or steps this connector calls, as named in [`Request::step`]. A request whose step is not
    /// listed goes through the connector's own breaker.
    pub operations: &'static [&'static str],
}

/// One upstream API.
///
/// A fetch is a chain of requests: [`Connector::start`] builds the first one, and each response
/// goes to [`Connector::read`], which either fails with a classified [`ConnectorError`] or returns
/// a [`Page`] of records and, when there is more to fetch, the next request. The worker runs the
/// chain and stores the records only when the whole chain succeeded.
pub trait Connector: Send + Sync + 'static {
    /// What this connector is, as data.
    fn meta(&self) -> &'static Meta;
    /// [`Meta::id`].
    fn id(&self) -> &'static str {
        self.meta().id
    }
    /// [`Meta::describe`].
    fn describe(&self) -> &'static str {
        self.meta().describe
    }
    /// [`Meta::group`].
    fn group(&self) -> Group {
        self.meta().group
    }
    /// [`Meta::params`].
    fn params(&self) -> &'static [Param] {
        self.meta().params
    }
    /// [`Meta::requires_key`].
    fn requires_key(&self) -> bool {
        self.meta().requires_key
    }
    /// [`Meta::requires_contact`].
    fn requires_contact(&self) -> bool {
        self.meta().requires_contact
    }
    /// Cross-field rules and canonical forms (e.g. a CIK padded to ten digits), applied after the
    /// generic unknown/missing checks so that equal questions get equal dataset keys.
    fn normalize(&self, _params: &mut Params) -> Result<(), ParamError> {
        Ok(())
    }
    /// When the configured key is a pair of OAuth client credentials, the request that exchanges
    /// them for an access token. The worker sends it through the connector's stack, caches the
    /// token until it expires, and passes it back in [`Context::token`].
    fn token_request(&self, _ctx: &Context) -> Option<Result<Request, ConnectorError>> {
        None
    }
    /// Read the answer to [`Connector::token_request`]: the token and how long it lives.
    fn read_token(&self, resp: &Response) -> Result<(String, std::time::Duration), ConnectorError> {
        Err(resp.status_error())
    }
    /// [`Meta::operations`].
    fn operations(&self) -> &'static [&'static str] {
        self.meta().operations
    }
    /// The steps a fetch may go on to after a request of `step` (PubMed: a term search's
    /// `esearch` is followed by `efetch`), so that a read can tell every breaker its refresh
    /// would meet.
    fn steps_after(&self, _step: &str) -> &'static [&'static str] {
        &[]
    }
    /// The parameters of one cheap, documented request (a single small record) that tells
    /// whether the upstream answers: what a background probe of an open breaker fetches instead
    /// of waiting for user traffic. `None` where every request spends a scarce quota (a daily
    /// allowance, a paid key), so only user traffic probes.
    fn probe(&self) -> Option<&'static [(&'static str, &'static str)]> {
        None
    }
    /// The first request of a fetch.
    fn start(&self, ctx: &Context, params: &Params) -> Result<Request, ConnectorError>;
    /// Classify and parse one response to `req`.
    fn read(&self, ctx: &Context, params: &Params, req: &Request, resp: &Response) -> Result<Page, ConnectorError>;
}

static ALL: [&dyn Connector; 12] = [
    &arxiv::Arxiv,
    &pubmed::Pubmed,
    &semantic_scholar::SemanticScholar,
    &crossref::Crossref,
    &alpha_vantage::AlphaVantage,
    &yahoo_finance::YahooFinance,
    &polygon::Polygon,
    &newsapi::NewsApi,
    &guardian::Guardian,
    &reddit::Reddit,
    &census::Census,
    &sec_edgar::SecEdgar,
];

/// Every connector apiary ships, in a fixed order.
pub fn all() -> &'static [&'static dyn Connector] {
    &ALL
}

/// The connector with this id.
pub fn get(id: &str) -> Option<&'static dyn Connector> {
    ALL.iter().copied().find(|c| c.id() == id)
}
