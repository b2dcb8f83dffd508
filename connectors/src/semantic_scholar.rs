//! semantic_scholar connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct SemanticScholar;

static PARAMS: [Param; 5] = [
    Param::optional("query", ""),
    Param::optional("fields", ""),
    Param::optional("limit", ""),
    Param::optional("offset", ""),
    Param::optional("paper_id", ""),
];

impl Connector for SemanticScholar {
    fn id(&self) -> &'static str {
        "semantic_scholar"
    }
    fn describe(&self) -> &'static str {
        "semantic_scholar"
    }
    fn group(&self) -> Group {
        Group::Research
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("semantic_scholar is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
