//! sec_edgar connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct SecEdgar;

static PARAMS: [Param; 2] = [
    Param::optional("cik", ""),
    Param::optional("endpoint", ""),
];

impl Connector for SecEdgar {
    fn id(&self) -> &'static str {
        "sec_edgar"
    }
    fn describe(&self) -> &'static str {
        "sec_edgar"
    }
    fn group(&self) -> Group {
        Group::Government
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("sec_edgar is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
