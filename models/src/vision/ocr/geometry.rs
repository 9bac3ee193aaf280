//! Plane geometry of text boxes: convex hulls, minimum-area rectangles, unclipping, corner order
//! and reading order. Corners are `[x, y]`; a quadrilateral lists them clockwise from top left.

/// Four corners: top left, top right, bottom right, bottom left.
pub type Quad = [[f32; 2]; 4];

/// A rotated rectangle: its corners in [`order_corners`] order and its side lengths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotatedRect {
    /// Corners: top left, top right, bottom right, bottom left.
    pub corners: Quad,
    /// Length of the shorter side.
    pub short_side: f32,
    /// Length of the longer side.
    pub long_side: f32,
}

/// The convex hull of points (Andrew's monotone chain), counter-clockwise in image coordinates.
pub fn convex_hull(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut pts: Vec<[f32; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(pts.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// The rectangle of least area that holds every point (rotating calipers over the hull's
/// edges). None when there are no points.
pub fn min_area_rect(points: &[[f32; 2]]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    let first = *hull.first()?;
    if hull.len() < 3 {
        // A point or a segment: a rectangle with no width.
        let last = *hull.last()?;
        let len = distance(first, last);
        return Some(RotatedRect {
            corners: order_corners([first, last, last, first]),
            short_side: 0.0,
            long_side: len,
        });
    }
    let mut best: Option<(f32, Quad, f32, f32)> = None;
    for i in 0..hull.len() {
        let a = hull[i];
        let b = hull[(i + 1) % hull.len()];
        let len = distance(a, b);
        if len <= f32::EPSILON {
            continue;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            min_u = min_u.min(pu);
            max_u = max_u.max(pu);
            min_v = min_v.min(pv);
            max_v = max_v.max(pv);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(a, ..)| area < *a) {
            let at = |pu: f32, pv: f32| [pu * u[0] + pv * v[0], pu * u[1] + pv * v[1]];
            let corners = [
                at(min_u, min_v),
                at(max_u, min_v),
                at(max_u, max_v),
                at(min_u, max_v),
            ];
            best = Some((area, corners, max_u - min_u, max_v - min_v));
        }
    }
    let (_, corners, w, h) = best?;
    Some(RotatedRect {
        corners: order_corners(corners),
        short_side: w.min(h),
        long_side: w.max(h),
    })
}

/// Grows a rectangle by `offset` on every side (the unclip of DB post-processing: for a
/// rectangle, the minimum-area rectangle of its round-joined offset is exactly this).
pub fn expand(rect: &RotatedRect, offset: f32) -> RotatedRect {
    let c = rect.corners;
    let centre = [
        (c[0][0] + c[1][0] + c[2][0] + c[3][0]) / 4.0,
        (c[0][1] + c[1][1] + c[2][1] + c[3][1]) / 4.0,
    ];
    // Unit vectors along the top edge and the left edge.
    let unit = |a: [f32; 2], b: [f32; 2]| {
        let len = distance(a, b);
        if len > f32::EPSILON {
            [(b[0] - a[0]) / len, (b[1] - a[1]) / len]
        } else {
            [0.0, 0.0]
        }
    };
    let mut u = unit(c[0], c[1]);
    let mut v = unit(c[0], c[3]);
    if u == [0.0, 0.0] && v == [0.0, 0.0] {
        u = [1.0, 0.0];
        v = [0.0, 1.0];
    } else if u == [0.0, 0.0] {
        u = [v[1], -v[0]];
    } else if v == [0.0, 0.0] {
        v = [-u[1], u[0]];
    }
    let half_w = distance(c[0], c[1]) / 2.0 + offset;
    let half_h = distance(c[0], c[3]) / 2.0 + offset;
    let at = |su: f32, sv: f32| {
        [
            centre[0] + su * half_w * u[0] + sv * half_h * v[0],
            centre[1] + su * half_w * u[1] + sv * half_h * v[1],
        ]
    };
    let (w, h) = (2.0 * half_w, 2.0 * half_h);
    RotatedRect {
        corners: order_corners([at(-1.0, -1.0), at(1.0, -1.0), at(1.0, 1.0), at(-1.0, 1.0)]),
        short_side: w.min(h),
        long_side: w.max(h),
    }
}

/// Euclidean distance of two points.
pub fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Orders four corners as top left, top right, bottom right, bottom left: the two leftmost
/// points give the left side (the upper one first), the two rightmost the right side.
pub fn order_corners(points: Quad) -> Quad {
    let mut p = points;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if p[1][1] > p[0][1] {
        (p[0], p[1])
    } else {
        (p[1], p[0])
    };
    let (tr, br) = if p[3][1] > p[2][1] {
        (p[2], p[3])
    } else {
        (p[3], p[2])
    };
    [tl, tr, br, bl]
}

/// True when a point lies inside (or on) a convex quadrilateral.
pub fn inside(quad: &Quad, x: f32, y: f32) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let a = quad[i];
        let b = quad[(i + 1) % 4];
        let cross = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        if cross.abs() <= 1e-6 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Reading order: top to bottom, and left to right for boxes whose tops differ by less than
/// `row_tolerance` pixels.
pub fn reading_order(boxes: &mut [Quad], row_tolerance: f32) {
    boxes.sort_by(|a, b| {
        a[0][1]
            .total_cmp(&b[0][1])
            .then(a[0][0].total_cmp(&b[0][0]))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let same_row = (boxes[j + 1][0][1] - boxes[j][0][1]).abs() < row_tolerance;
            if same_row && boxes[j + 1][0][0] < boxes[j][0][0] {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

/// The vertical extent (top, bottom) of a quadrilateral.
pub fn vertical_extent(quad: &Quad) -> (f32, f32) {
    let top = quad.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
    let bottom = quad.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
    (top, bottom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_area_rect_of_an_axis_aligned_block() {
        let pts: Vec<[f32; 2]> = (0..10)
            .flat_map(|x| (0..4).map(move |y| [x as f32, y as f32]))
            .collect();
        let r = min_area_rect(&pts).expect("a rectangle");
        assert!((r.long_side - 9.0).abs() < 1e-4 && (r.short_side - 3.0).abs() < 1e-4);
        assert_eq!(r.corners[0], [0.0, 0.0]);
        assert_eq!(r.corners[2], [9.0, 3.0]);
        let grown = expand(&r, 1.0);
        assert!((grown.long_side - 11.0).abs() < 1e-4 && (grown.short_side - 5.0).abs() < 1e-4);
        assert!(inside(&grown.corners, -0.5, -0.5) && !inside(&grown.corners, 10.5, 2.0));
    }

    #[test]
    fn rows_read_left_to_right() {
        let quad = |x: f32, y: f32| [[x, y], [x + 5.0, y], [x + 5.0, y + 5.0], [x, y + 5.0]];
        let mut boxes = vec![quad(50.0, 3.0), quad(0.0, 40.0), quad(0.0, 5.0)];
        reading_order(&mut boxes, 10.0);
        assert_eq!(
            boxes,
            vec![quad(0.0, 5.0), quad(50.0, 3.0), quad(0.0, 40.0)]
        );
    }
}
