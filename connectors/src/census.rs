//! census connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Census;

static PARAMS: [Param; 5] = [
    Param::optional("year", ""),
    Param::optional("dataset", ""),
    Param::optional("get", ""),
    Param::optional("for", ""),
    Param::optional("in", ""),
];

impl Connector for Census {
    fn id(&self) -> &'static str {
        "census"
    }
    fn describe(&self) -> &'static str {
        "census"
    }
    fn group(&self) -> Group {
        Group::Government
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("census is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
