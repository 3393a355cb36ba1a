//! Built-in sample citizens (synthetic people, drawn portraits) for the demo, tests,
//! benchmarks and the test vectors in docs/FORMAT.md.

use crate::model::{CardClaims, CitizenRecord};

/// Portrait of sample citizen A (a drawn face, 160x200 JPEG).
pub const PORTRAIT_A: &[u8] = include_bytes!("../assets/portrait-a.jpg");
/// Portrait of sample citizen B.
pub const PORTRAIT_B: &[u8] = include_bytes!("../assets/portrait-b.jpg");

/// Record JSON of the sample citizens, as an issuer would receive them.
pub const RECORDS: [&str; 4] = [
    r#"{"citizen_id": "1103700012346", "title_th": "นาย", "given_name_th": "สมชาย",
 "family_name_th": "ใจดี", "title_en": "Mr.", "given_name_en": "Somchai",
 "family_name_en": "Jaidee", "birth_date": "1990-04-12",
 "address": "99/1 ถนนแจ้งวัฒนะ แขวงทุ่งสองห้อง เขตหลักสี่ กรุงเทพมหานคร 10210",
 "issue_date": "2024-01-15", "expiry_date": "2032-04-11",
 "laser_code": "JT0-1234567-89", "issuing_office": "สำนักทะเบียนเขตหลักสี่", "portrait": "portrait-a.jpg"}"#,
    r#"{"citizen_id": "3100600123450", "title_th": "นางสาว", "given_name_th": "กาญจนาภรณ์",
 "family_name_th": "ศรีสุวรรณวงศ์", "title_en": "Miss", "given_name_en": "Kanchanaporn",
 "family_name_en": "Srisuwannawong", "birth_date": "1985-11",
 "address": "12 หมู่ 3 ตำบลสุเทพ อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50200",
 "issue_date": "2023-06-01", "expiry_date": "2031-11-30",
 "laser_code": "ME2-7654321-01", "issuing_office": "ที่ว่าการอำเภอเมืองเชียงใหม่", "portrait": "portrait-b.jpg"}"#,
    r#"{"citizen_id": "3101200345677", "title_th": "นาง", "given_name_th": "บุญมี",
 "family_name_th": "มีสุข", "title_en": "Mrs.", "given_name_en": "Boonmee",
 "family_name_en": "Meesuk", "birth_date": "1948",
 "address": "5 ถนนราชดำเนิน ตำบลในเมือง อำเภอเมืองขอนแก่น จังหวัดขอนแก่น 40000",
 "issue_date": "2020-03-02", "expiry_date": "lifelong",
 "laser_code": "KK1-1112223-33", "issuing_office": "ที่ว่าการอำเภอเมืองขอนแก่น", "portrait": "portrait-b.jpg"}"#,
    r#"{"citizen_id": "1209901234561", "title_th": "นาย", "given_name_th": "ธนากร",
 "family_name_th": "วงศ์ใหญ่", "title_en": "Mr.", "given_name_en": "Thanakorn",
 "family_name_en": "Wongyai", "birth_date": "2001-02-28",
 "address": "77 ถนนสุขุมวิท ตำบลบางปลาสร้อย อำเภอเมืองชลบุรี จังหวัดชลบุรี 20000",
 "issue_date": "2017-03-01", "expiry_date": "2025-02-27",
 "laser_code": "CB3-3334445-55", "issuing_office": "ที่ว่าการอำเภอเมืองชลบุรี", "portrait": "portrait-a.jpg"}"#,
];

/// Sample citizen `i` (0..4) with its portrait filled in.
pub fn citizen(i: usize) -> CardClaims {
    let r = CitizenRecord::from_json(RECORDS[i].as_bytes()).expect("sample records are valid");
    let mut c = r.claims;
    c.portrait = if r.portrait_path == "portrait-a.jpg" {
        PORTRAIT_A
    } else {
        PORTRAIT_B
    }
    .to_vec();
    c
}

/// How a sample citizen's credential is issued in tests, benchmarks and the demo: the one
/// place that fills [`IssueParams`](crate::gate::IssueParams) for them.
#[derive(Clone, Debug)]
pub struct Issue<'a> {
    /// Which sample citizen (0..4).
    pub citizen: usize,
    /// The issuer's number.
    pub issuer: u32,
    /// The issuer's signing key.
    pub signer: &'a ed25519_dalek::SigningKey,
    /// The key id (by default the one every issuer derives, [`kid_of`](crate::trust::kid_of)).
    pub kid: Vec<u8>,
    /// The holder's key.
    pub holder: ed25519_dalek::VerifyingKey,
    /// The credential id (by default eight bytes of the citizen's number).
    pub credential_id: [u8; 8],
    /// The status list entry (by default list 0, index = the citizen's number).
    pub status: crate::gate::StatusRef,
    /// Issuance time, Unix seconds.
    pub issued_at: i64,
}

impl<'a> Issue<'a> {
    /// Sample citizen `citizen` issued by issuer 1 under `signer` to `holder` at `issued_at`.
    pub fn new(
        citizen: usize,
        signer: &'a ed25519_dalek::SigningKey,
        holder: ed25519_dalek::VerifyingKey,
        issued_at: i64,
    ) -> Self {
        Issue {
            citizen,
            issuer: 1,
            signer,
            kid: crate::trust::kid_of(&signer.verifying_key()),
            holder,
            credential_id: [citizen as u8; 8],
            status: crate::gate::StatusRef {
                list: 0,
                index: citizen as u64,
            },
            issued_at,
        }
    }

    /// The gate form, its salts drawn from `rng`.
    pub fn gate(
        &self,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> crate::Result<crate::gate::GateCredential> {
        crate::gate::issue(
            &citizen(self.citizen),
            &crate::gate::IssueParams {
                issuer: self.issuer,
                signing_key: self.signer,
                kid: &self.kid,
                holder_key: self.holder.into(),
                credential_id: self.credential_id,
                status: self.status,
                issued_at: self.issued_at,
            },
            rng,
        )
    }

    /// The W3C form, signed (ssi, eddsa-rdfc-2022).
    pub fn w3c(&self) -> crate::Result<String> {
        let unsigned = crate::w3c::unsigned(
            &citizen(self.citizen),
            self.issuer,
            &crate::w3c::default_issuer_did(self.issuer),
            self.holder,
            &self.credential_id,
            self.status,
            self.issued_at,
        )?;
        crate::w3c::sign(unsigned, self.signer, self.issued_at)
    }
}
