//! reddit connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Reddit;

static PARAMS: [Param; 4] = [
    Param::optional("subreddit", ""),
    Param::optional("sort", ""),
    Param::optional("limit", ""),
    Param::optional("t", ""),
];

impl Connector for Reddit {
    fn id(&self) -> &'static str {
        "reddit"
    }
    fn describe(&self) -> &'static str {
        "reddit"
    }
    fn group(&self) -> Group {
        Group::News
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("reddit is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
