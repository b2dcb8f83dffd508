//! polygon connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Polygon;

static PARAMS: [Param; 5] = [
    Param::optional("ticker", ""),
    Param::optional("multiplier", ""),
    Param::optional("timespan", ""),
    Param::optional("from", ""),
    Param::optional("to", ""),
];

impl Connector for Polygon {
    fn id(&self) -> &'static str {
        "polygon"
    }
    fn describe(&self) -> &'static str {
        "polygon"
    }
    fn group(&self) -> Group {
        Group::Financial
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("polygon is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
