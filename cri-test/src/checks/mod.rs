//! The checks of one handler, in the order the kubelet would meet them;
//! each phase leaves its pods and containers in the context for the next.

mod container;
mod io;
mod net;
mod pod;
mod stop;

use crate::{Ctx, Tally};

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    pod::run(ctx, t);
    container::run(ctx, t);
    io::run(ctx, t);
    net::run(ctx, t);
    stop::run(ctx, t);
}
