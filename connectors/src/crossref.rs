//! crossref connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Crossref;

static PARAMS: [Param; 5] = [
    Param::optional("query", ""),
    Param::optional("filter", ""),
    Param::optional("rows", ""),
    Param::optional("cursor", ""),
    Param::optional("doi", ""),
];

impl Connector for Crossref {
    fn id(&self) -> &'static str {
        "crossref"
    }
    fn describe(&self) -> &'static str {
        "crossref"
    }
    fn group(&self) -> Group {
        Group::Research
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("crossref is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
