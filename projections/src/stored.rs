//! How the read models store the domain's fixed sets (`ScanState`, `Moderation`,
//! `ReportReason`) and their own (`Resolution`, in `moderation.rs`): by stable name in a TEXT column, written with
//! `as_str()` and read back through [`ByName`], so a name the code does not know fails the row
//! as corrupt data (naming the column and the value) instead of reading as some default.

use std::str::FromStr;

use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};
use voicebin_domain::{Moderation, ReportReason, ScanState, StageState, UnknownName};

/// A value decoded from its stable name. Row structs use it as
/// `#[sqlx(try_from = "ByName<ScanState>")]`: sqlx cannot be taught to decode the domain's
/// enums directly (neither the trait nor the type is this crate's), and its `try_from` on a
/// plain `String` would lose the error's text.
pub struct ByName<T>(pub T);

impl<T, DB: Database> Type<DB> for ByName<T>
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, T, DB: Database> Decode<'r, DB> for ByName<T>
where
    T: FromStr<Err = UnknownName>,
    String: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(ByName(String::decode(value)?.parse()?))
    }
}

impl From<ByName<ScanState>> for ScanState {
    fn from(name: ByName<ScanState>) -> Self {
        name.0
    }
}

impl From<ByName<Moderation>> for Moderation {
    fn from(name: ByName<Moderation>) -> Self {
        name.0
    }
}

impl From<ByName<ReportReason>> for ReportReason {
    fn from(name: ByName<ReportReason>) -> Self {
        name.0
    }
}

/// A nullable column holding a stable name: NULL reads as `None`, an unknown name fails the row
/// (a stage's state is NULL for clips that do not need the stage).
pub struct NullableByName<T>(pub Option<T>);

impl<T, DB: Database> Type<DB> for NullableByName<T>
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, T, DB: Database> Decode<'r, DB> for NullableByName<T>
where
    T: FromStr<Err = UnknownName>,
    Option<String>: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        match Option::<String>::decode(value)? {
            Some(name) => Ok(NullableByName(Some(name.parse()?))),
            None => Ok(NullableByName(None)),
        }
    }
}

impl From<NullableByName<StageState>> for Option<StageState> {
    fn from(name: NullableByName<StageState>) -> Self {
        name.0
    }
}
