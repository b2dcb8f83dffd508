//! pubmed connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Pubmed;

static PARAMS: [Param; 4] = [
    Param::optional("term", ""),
    Param::optional("retmax", ""),
    Param::optional("retstart", ""),
    Param::optional("id", ""),
];

impl Connector for Pubmed {
    fn id(&self) -> &'static str {
        "pubmed"
    }
    fn describe(&self) -> &'static str {
        "pubmed"
    }
    fn group(&self) -> Group {
        Group::Research
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("pubmed is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
