//! newsapi connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct NewsApi;

static PARAMS: [Param; 10] = [
    Param::optional("endpoint", ""),
    Param::optional("q", ""),
    Param::optional("sources", ""),
    Param::optional("country", ""),
    Param::optional("category", ""),
    Param::optional("from", ""),
    Param::optional("to", ""),
    Param::optional("language", ""),
    Param::optional("pageSize", ""),
    Param::optional("page", ""),
];

impl Connector for NewsApi {
    fn id(&self) -> &'static str {
        "newsapi"
    }
    fn describe(&self) -> &'static str {
        "newsapi"
    }
    fn group(&self) -> Group {
        Group::News
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("newsapi is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
