//! A local stand-in for the AWS Lambda Runtime API (the HTTP interface a
//! custom runtime polls, "AWS Lambda runtime API" in the Lambda developer
//! guide): `GET /2018-06-01/runtime/invocation/next` hands out the queued
//! events with their request id and deadline headers, and the runtime posts
//! each one's `/response` or `/error` back. It lets a test run the
//! `drctl-lambda` binary as Lambda runs it, invocation after invocation in
//! one process.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the runtime answered for one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Response(String),
    Error(String),
}

#[derive(Default)]
struct Queues {
    events: VecDeque<(String, u64, String)>,
    answers: Vec<(String, Answer)>,
    init_error: Option<String>,
}

/// The Runtime API on a loopback port; serves until the process ends.
#[derive(Clone)]
pub struct LambdaApi {
    address: String,
    queues: Arc<(Mutex<Queues>, Condvar)>,
}

impl LambdaApi {
    pub fn start() -> LambdaApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api = LambdaApi { address: listener.local_addr().unwrap().to_string(), queues: Arc::default() };
        let serving = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = serving.clone();
                std::thread::spawn(move || connection.serve(stream));
            }
        });
        api
    }

    /// `AWS_LAMBDA_RUNTIME_API`: host and port.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues an invocation of `event` that Lambda would end after `lasts`.
    pub fn invoke(&self, request_id: &str, event: &serde_json::Value, lasts: Duration) {
        let deadline = (SystemTime::now() + lasts).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let (queues, ready) = &*self.queues;
        queues.lock().unwrap().events.push_back((request_id.to_string(), deadline, event.to_string()));
        ready.notify_all();
    }

    /// The runtime's answer to `request_id`, waiting up to `within`.
    pub fn answer(&self, request_id: &str, within: Duration) -> Answer {
        let (queues, ready) = &*self.queues;
        let until = Instant::now() + within;
        let mut guard = queues.lock().unwrap();
        loop {
            if let Some((_, answer)) = guard.answers.iter().find(|(id, _)| id == request_id) {
                return answer.clone();
            }
            if let Some(error) = &guard.init_error {
                panic!("the runtime failed to start: {error}");
            }
            let left =
                until.checked_duration_since(Instant::now()).unwrap_or_else(|| panic!("no answer to {request_id} within {within:?}"));
            guard = ready.wait_timeout(guard, left).unwrap().0;
        }
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        // Keep-alive: one request after the other on this connection.
        while let Some((method, path, body)) = read_request(&mut reader) {
            let (status, headers, reply) = self.route(&method, &path, body);
            let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n", reply.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(reply.as_bytes())).is_err() {
                return;
            }
        }
    }

    fn route(&self, method: &str, path: &str, body: String) -> (&'static str, Vec<(&'static str, String)>, String) {
        let (queues, ready) = &*self.queues;
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
                let mut guard = queues.lock().unwrap();
                let (id, deadline, event) = loop {
                    match guard.events.pop_front() {
                        Some(next) => break next,
                        None => guard = ready.wait(guard).unwrap(),
                    }
                };
                let headers = vec![
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:drctl".to_string()),
                    ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".to_string()),
                ];
                ("200 OK", headers, event)
            }
            ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
                let answer = if *kind == "response" { Answer::Response(body) } else { Answer::Error(body) };
                queues.lock().unwrap().answers.push((id.to_string(), answer));
                ready.notify_all();
                ("202 Accepted", Vec::new(), "{\"status\":\"OK\"}".to_string())
            }
            ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
                queues.lock().unwrap().init_error = Some(body);
                ready.notify_all();
                ("202 Accepted", Vec::new(), "{\"status\":\"OK\"}".to_string())
            }
            _ => ("404 Not Found", Vec::new(), "{}".to_string()),
        }
    }
}

/// One HTTP/1.1 request: method, path and body (by content-length, or
/// chunked); `None` when the connection closed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}
