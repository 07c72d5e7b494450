//! Parallel segmented scans that fold page by page: each segment keeps one
//! accumulator and one page in memory, never the table.

use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::types::Select;
use futures_util::future::try_join_all;

use crate::drill::DrillError;

/// Scans `table` in `segments` parallel segments, folding every page into
/// the segment's accumulator; returns one accumulator per segment.
pub async fn fold_segments<T, F>(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    segments: u32,
    select: Option<Select>,
    fold: F,
) -> Result<Vec<T>, DrillError>
where
    T: Default,
    F: Fn(&mut T, &ScanOutput) + Copy,
{
    let segments = segments.clamp(1, 1_000_000);
    try_join_all((0..segments).map(|segment| fold_segment(dynamodb, table, segment, segments, select.clone(), fold))).await
}

async fn fold_segment<T, F>(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    segment: u32,
    segments: u32,
    select: Option<Select>,
    fold: F,
) -> Result<T, DrillError>
where
    T: Default,
    F: Fn(&mut T, &ScanOutput),
{
    let mut request = dynamodb.scan().table_name(table).set_select(select).consistent_read(true);
    if segments > 1 {
        request = request.segment(segment as i32).total_segments(segments as i32);
    }
    let mut pages = request.into_paginator().send();
    let mut acc = T::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DrillError::aws(format!("Scan {table} (segment {segment} of {segments})"), &e))?;
        fold(&mut acc, &page);
    }
    Ok(acc)
}

/// The exact item count of `table` (Scan with `Select=COUNT`).
pub async fn count(dynamodb: &aws_sdk_dynamodb::Client, table: &str, segments: u32) -> Result<u64, DrillError> {
    let counts: Vec<u64> =
        fold_segments(dynamodb, table, segments, Some(Select::Count), |n: &mut u64, page| *n += page.count().max(0) as u64).await?;
    Ok(counts.into_iter().sum())
}
