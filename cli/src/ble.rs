//! The Bluetooth LE link both sides of a session speak, once: ISO 18013-5's peripheral-server
//! characteristic roles under the engagement's service UUID, state
//! (`00000001-A123-48CE-896B-4C76973373E6`), client-to-server (`...02...`), server-to-client
//! (`...03...`, notifications), through BlueZ. Each side reads chunks from one
//! characteristic and writes them to the other; only setting the session up differs (the
//! wallet serves and advertises, the gate scans and connects), and that stays with each
//! binary. Built with the `ble` feature; tested on hardware only (see README, "Bluetooth LE
//! on two machines").

use bluer::gatt::{CharacteristicReader, CharacteristicWriter};
use bluer::Uuid;
use std::future::Future;
use std::time::Duration;
use tuaton_common::error::SessionError;
use tuaton_common::link::Link;
use tuaton_common::Error;

/// State: the gate writes "start" (0x01) here to begin, "end" (0x02) to finish.
pub const STATE: Uuid = Uuid::from_u128(tuaton_common::session::gatt::STATE);
/// Client (gate) to server (wallet).
pub const CLIENT_TO_SERVER: Uuid = Uuid::from_u128(tuaton_common::session::gatt::CLIENT_TO_SERVER);
/// Server (wallet) to client (gate).
pub const SERVER_TO_CLIENT: Uuid = Uuid::from_u128(tuaton_common::session::gatt::SERVER_TO_CLIENT);

/// What a side holds besides its two characteristics, for as long as the link lives.
pub enum Role {
    /// The wallet, a peripheral server: dropping these stops advertising and removes the
    /// service.
    Server(
        bluer::adv::AdvertisementHandle,
        bluer::gatt::local::ApplicationHandle,
    ),
    /// The gate, a central client: the state characteristic, written "end" (0x02) when the
    /// link drops.
    Client(bluer::gatt::remote::Characteristic),
}

/// A GATT link once the peer is there: chunks are written to one characteristic and read
/// from the other, on a runtime of its own (the session protocol above it is blocking).
pub struct GattLink {
    rt: tokio::runtime::Runtime,
    reader: CharacteristicReader,
    writer: CharacteristicWriter,
    role: Role,
}

/// Sets a link up: builds its runtime, powers the default adapter on, and runs the side's
/// `setup` with it, which returns the characteristic to read, the one to write and what
/// its role keeps. Bluetooth errors become the side's own through `err`.
pub fn open<E, F>(
    err: impl Fn(String) -> E,
    setup: impl FnOnce(bluer::Adapter) -> F,
) -> Result<GattLink, E>
where
    F: Future<Output = Result<(CharacteristicReader, CharacteristicWriter, Role), E>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(e.to_string()))?;
    let (reader, writer, role) = rt.block_on(async {
        let session = bluer::Session::new()
            .await
            .map_err(|e| err(e.to_string()))?;
        let adapter = session
            .default_adapter()
            .await
            .map_err(|e| err(e.to_string()))?;
        adapter
            .set_powered(true)
            .await
            .map_err(|e| err(e.to_string()))?;
        setup(adapter).await
    })?;
    Ok(GattLink {
        rt,
        reader,
        writer,
        role,
    })
}

impl Drop for GattLink {
    fn drop(&mut self) {
        if let Role::Client(state) = &self.role {
            // 0x02: end of session.
            let _ = self.rt.block_on(state.write(&[0x02]));
        }
    }
}

impl Link for GattLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.rt
            .block_on(self.writer.send(chunk))
            .map_err(|e| Error::Session(SessionError::Link(format!("BLE send: {e}"))))
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        self.rt
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(tuaton_common::session::BLE_CHUNK_WAIT_SECS),
                    self.reader.recv(),
                )
                .await
            })
            .map_err(|_| Error::Session(SessionError::Timeout))?
            .map_err(|e| Error::Session(SessionError::Link(format!("BLE receive: {e}"))))
    }
    fn mtu(&self) -> usize {
        // bluer reports the ATT payload size (MTU - 3); the link speaks in ATT MTU.
        self.reader.mtu().min(self.writer.mtu()) + 3
    }
}
