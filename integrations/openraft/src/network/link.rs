//! One lazily opened connection to a node, for request/reply calls.

use super::{read_frame, write_frame, RpcRequest, RpcResponse};
use std::io;
use tokio::io::BufReader;
use tokio::net::TcpStream;

#[derive(Debug)]
pub enum LinkError {
    /// No connection could be made: the node is down or not there.
    Connect(io::Error),
    /// The connection failed during the call; the request may or may not
    /// have reached the node.
    Io(io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Connect(e) => write!(f, "connect: {e}"),
            LinkError::Io(e) => write!(f, "call: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

pub struct Link {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Link {
    pub fn new(addr: impl Into<String>) -> Link {
        Link {
            addr: addr.into(),
            conn: None,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` and waits for the reply. The connection is taken out
    /// while a call runs and put back only after a whole reply: a call that
    /// fails or is cancelled (a timeout dropping the future) closes it, so
    /// a late reply can never be read as the answer to the next request.
    pub async fn call(&mut self, req: &RpcRequest) -> Result<RpcResponse, LinkError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(&self.addr)
                    .await
                    .map_err(LinkError::Connect)?;
                s.set_nodelay(true).map_err(LinkError::Connect)?;
                BufReader::new(s)
            }
        };
        write_frame(conn.get_mut(), req)
            .await
            .map_err(LinkError::Io)?;
        let resp = read_frame(&mut conn).await.map_err(LinkError::Io)?;
        self.conn = Some(conn);
        Ok(resp)
    }
}
